//! Record-batch codec (being written).

//! Neo native protocol and SDK. Not built yet: see the native protocol issue.

//! AMQP 0-9-1 gateway. Not built yet: see the AMQP gateway issue.

//! Kafka wire front-end. Not built yet: see the Kafka front-end issue.

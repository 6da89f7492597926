"""The stateless S3 REST service: routing, SigV4, IAM, S3 XML and data routing."""

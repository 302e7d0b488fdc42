"""Talking to AWS services with the server's own credentials: what the bedrock provider and the
S3 blob store share."""

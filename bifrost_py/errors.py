"""One error type per AWS error code.

Errors are raised as values by the store, providers and parsers, and rendered in exactly one place
per dialect (S3 XML in wire/s3/errors.py, Bedrock JSON in wire/bedrock/errors.py).
"""

from __future__ import annotations

import functools


class AwsError(Exception):
    code: str = "InternalError"
    status: int = 500
    default_message: str = "We encountered an internal error. Please try again."

    def __init__(self, message: str | None = None, *, resource: str = "",
                 headers: dict[str, str] | None = None, **extra: str) -> None:
        self.message = message or self.default_message
        self.resource = resource
        self.headers = headers or {}
        # Extra elements S3 adds to some errors (BucketName, Key, UploadId, ...).
        self.extra = extra
        super().__init__(f"{self.code}: {self.message}")


def _error(code: str, status: int, message: str) -> type[AwsError]:
    return type(code, (AwsError,), {"code": code, "status": status, "default_message": message})


@functools.cache
def error_class(code: str, status: int) -> type[AwsError]:
    """The error type for a code chosen at run time (an authentication failure's)."""
    return _error(code, status, code)


# S3
InternalError = _error("InternalError", 500, AwsError.default_message)
Unsupported = _error("NotImplemented", 501,
                     "A header or query you provided implies functionality that is not "
                     "implemented.")
NoSuchBucket = _error("NoSuchBucket", 404, "The specified bucket does not exist.")
NoSuchKey = _error("NoSuchKey", 404, "The specified key does not exist.")
NoSuchUpload = _error("NoSuchUpload", 404,
                      "The specified multipart upload does not exist. The upload ID might be "
                      "invalid, or the multipart upload might have been aborted or completed.")
BucketAlreadyOwnedByYou = _error("BucketAlreadyOwnedByYou", 409,
                                 "Your previous request to create the named bucket succeeded and "
                                 "you already own it.")
BucketNotEmpty = _error("BucketNotEmpty", 409, "The bucket you tried to delete is not empty.")
InvalidBucketName = _error("InvalidBucketName", 400, "The specified bucket is not valid.")
InvalidArgument = _error("InvalidArgument", 400, "Invalid Argument")
InvalidRequest = _error("InvalidRequest", 400, "Invalid Request")
MalformedXML = _error("MalformedXML", 400,
                      "The XML you provided was not well-formed or did not validate against our "
                      "published schema.")
KeyTooLongError = _error("KeyTooLongError", 400, "Your key is too long.")
EntityTooLarge = _error("EntityTooLarge", 400,
                        "Your proposed upload exceeds the maximum allowed object size.")
EntityTooSmall = _error("EntityTooSmall", 400,
                        "Your proposed upload is smaller than the minimum allowed object size.")
InvalidPart = _error("InvalidPart", 400,
                     "One or more of the specified parts could not be found. The part might not "
                     "have been uploaded, or the specified entity tag might not have matched the "
                     "part's entity tag.")
InvalidPartOrder = _error("InvalidPartOrder", 400,
                          "The list of parts was not in ascending order. Parts must be ordered by "
                          "part number.")
InvalidRange = _error("InvalidRange", 416, "The requested range is not satisfiable")
PreconditionFailed = _error("PreconditionFailed", 412,
                            "At least one of the pre-conditions you specified did not hold")
BadDigest = _error("BadDigest", 400,
                   "The Content-MD5 or checksum value that you specified did not match what the "
                   "server received.")
InvalidDigest = _error("InvalidDigest", 400, "The Content-MD5 you specified is not valid.")
IncompleteBody = _error("IncompleteBody", 400,
                        "You did not provide the number of bytes specified by the Content-Length "
                        "HTTP header.")
MissingContentLength = _error("MissingContentLength", 411,
                              "You must provide the Content-Length HTTP header.")
MethodNotAllowed = _error("MethodNotAllowed", 405,
                          "The specified method is not allowed against this resource.")
InvalidURI = _error("InvalidURI", 400, "Couldn't parse the specified URI.")
MaxMessageLengthExceeded = _error("MaxMessageLengthExceeded", 400,
                                  "Your request was too big.")
InvalidPartNumber = _error("InvalidPartNumber", 416, "The requested partnumber is not satisfiable")
AccessDenied = _error("AccessDenied", 403, "Access Denied")
InvalidAccessKeyId = _error("InvalidAccessKeyId", 403,
                            "The AWS Access Key Id you provided does not exist in our records.")
SignatureDoesNotMatch = _error("SignatureDoesNotMatch", 403,
                               "The request signature we calculated does not match the signature "
                               "you provided.")
MalformedTrailerError = _error("MalformedTrailerError", 400,
                              "The request contained trailing data that was not well-formed or "
                              "did not conform to our published schema.")
InvalidStorageClass = _error("InvalidStorageClass", 400,
                             "The storage class you specified is not valid")
SlowDown = _error("SlowDown", 503, "Please reduce your request rate.")
ServiceUnavailable = _error("ServiceUnavailable", 503,
                            "The service is unavailable. Please retry.")


class UnknownProvider(AwsError):
    """A request names a provider this server has not configured: each mount answers it with
    its own dialect's code for a bad argument."""

    code = "UnknownProvider"
    status = 400
    default_message = "The provider is not configured on this server."


class NotModified(AwsError):
    """304: not an error to the client, but it ends the request the same way."""

    code = "NotModified"
    status = 304
    default_message = "Not Modified"


# Bedrock control plane (rest-json: the code travels in x-amzn-ErrorType)
ValidationException = _error("ValidationException", 400, "The request is not valid.")
SerializationException = _error("SerializationException", 400,
                                "The request body is not valid JSON.")
ConflictException = _error("ConflictException", 400,
                           "The request conflicts with the current state of the resource.")
ServiceQuotaExceededException = _error("ServiceQuotaExceededException", 400,
                                       "The request exceeds a service quota.")
TooManyTagsException = _error("TooManyTagsException", 400,
                              "The request contains more tags than can be associated with a "
                              "resource (200 tags per resource).")
AccessDeniedException = _error("AccessDeniedException", 403,
                               "You do not have sufficient access to perform this action.")
UnrecognizedClientException = _error("UnrecognizedClientException", 403,
                                     "The security token included in the request is invalid.")
ResourceNotFoundException = _error("ResourceNotFoundException", 404,
                                   "The specified resource was not found.")
UnknownOperationException = _error("UnknownOperationException", 404,
                                   "The requested operation is not supported.")
ThrottlingException = _error("ThrottlingException", 429, "Too many requests.")
InternalServerException = _error("InternalServerException", 500,
                                 "An internal server error occurred. Retry your request.")


# OpenAI dialect: the code is the error's `type`; its `param` and `code` travel as extra fields.
InvalidRequestError = _error("invalid_request_error", 400, "The request is not valid.")
NotFoundError = _error("invalid_request_error", 404, "No such object.")
ConflictError = _error("invalid_request_error", 409, "The request conflicts with the resource.")
AuthenticationError = _error("invalid_request_error", 401,
                             "You didn't provide an API key. You need to provide your API key in "
                             "an Authorization header using Bearer auth (i.e. Authorization: "
                             "Bearer YOUR_KEY).")

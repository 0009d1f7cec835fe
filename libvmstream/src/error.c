/* error.c - status names, categories and per-object error detail. */
#include <stdio.h>

#include "internal.h"

const char *vms_strerror(int status)
{
    switch ((vms_status)status) {
    case VMS_OK:
        return "VMS_OK";
    case VMS_END:
        return "VMS_END";
    case VMS_E_INVALID_ARG:
        return "VMS_E_INVALID_ARG";
    case VMS_E_STATE:
        return "VMS_E_STATE";
    case VMS_E_NOMEM:
        return "VMS_E_NOMEM";
    case VMS_E_IO:
        return "VMS_E_IO";
    case VMS_E_CALLBACK:
        return "VMS_E_CALLBACK";
    case VMS_E_UNSUPPORTED:
        return "VMS_E_UNSUPPORTED";
    case VMS_E_INTERNAL:
        return "VMS_E_INTERNAL";
    case VMS_E_BAD_MAGIC:
        return "VMS_E_BAD_MAGIC";
    case VMS_E_UNSUPPORTED_VERSION:
        return "VMS_E_UNSUPPORTED_VERSION";
    case VMS_E_BAD_HEADER:
        return "VMS_E_BAD_HEADER";
    case VMS_E_UNKNOWN_FEATURE:
        return "VMS_E_UNKNOWN_FEATURE";
    case VMS_E_UNKNOWN_ALGORITHM:
        return "VMS_E_UNKNOWN_ALGORITHM";
    case VMS_E_BAD_VENDOR_ID:
        return "VMS_E_BAD_VENDOR_ID";
    case VMS_E_NONZERO_PADDING:
        return "VMS_E_NONZERO_PADDING";
    case VMS_E_UNKNOWN_RECORD:
        return "VMS_E_UNKNOWN_RECORD";
    case VMS_E_BAD_RECORD_FLAGS:
        return "VMS_E_BAD_RECORD_FLAGS";
    case VMS_E_BAD_LENGTH:
        return "VMS_E_BAD_LENGTH";
    case VMS_E_BAD_SEQUENCE:
        return "VMS_E_BAD_SEQUENCE";
    case VMS_E_BAD_PHASE:
        return "VMS_E_BAD_PHASE";
    case VMS_E_BAD_OFFSET:
        return "VMS_E_BAD_OFFSET";
    case VMS_E_BAD_COMPRESSION:
        return "VMS_E_BAD_COMPRESSION";
    case VMS_E_BAD_END:
        return "VMS_E_BAD_END";
    case VMS_E_TRAILING_DATA:
        return "VMS_E_TRAILING_DATA";
    case VMS_E_TRUNCATED:
        return "VMS_E_TRUNCATED";
    case VMS_E_BAD_DESCRIPTOR:
        return "VMS_E_BAD_DESCRIPTOR";
    case VMS_E_HEADER_CHECKSUM:
        return "VMS_E_HEADER_CHECKSUM";
    case VMS_E_RECORD_CHECKSUM:
        return "VMS_E_RECORD_CHECKSUM";
    case VMS_E_CHAIN_MISMATCH:
        return "VMS_E_CHAIN_MISMATCH";
    case VMS_E_LIMIT_RECORD:
        return "VMS_E_LIMIT_RECORD";
    case VMS_E_LIMIT_TOTAL:
        return "VMS_E_LIMIT_TOTAL";
    case VMS_E_LIMIT_RECORDS:
        return "VMS_E_LIMIT_RECORDS";
    case VMS_E_LIMIT_BLOB:
        return "VMS_E_LIMIT_BLOB";
    case VMS_E_LIMIT_HEADER:
        return "VMS_E_LIMIT_HEADER";
    case VMS_E_LIMIT_BUFFERED:
        return "VMS_E_LIMIT_BUFFERED";
    case VMS_E_INCOMPATIBLE:
        return "VMS_E_INCOMPATIBLE";
    case VMS_E_AUTH_REQUIRED:
        return "VMS_E_AUTH_REQUIRED";
    case VMS_E_MAC_MISMATCH:
        return "VMS_E_MAC_MISMATCH";
    case VMS_E_BAD_SIGNATURE:
        return "VMS_E_BAD_SIGNATURE";
    case VMS_E_UNKNOWN_KEY:
        return "VMS_E_UNKNOWN_KEY";
    case VMS_E_BAD_KEY:
        return "VMS_E_BAD_KEY";
    case VMS_E_POLICY:
        return "VMS_E_POLICY";
    }
    return "VMS_E_UNKNOWN_STATUS";
}

vms_error_category vms_error_category_of(int status)
{
    if (status >= 0)
        return VMS_CAT_NONE;
    if (status > -100)
        return VMS_CAT_USAGE;
    if (status > -150)
        return VMS_CAT_FORMAT;
    if (status > -170)
        return VMS_CAT_INTEGRITY;
    if (status > -190)
        return VMS_CAT_LIMIT;
    return VMS_CAT_POLICY;
}

int vms_is_error(int status)
{
    return status < 0;
}

void vms_err_clear(vms_err *e)
{
    e->msg[0] = 0;
    e->info.code = VMS_OK;
    e->info.offset = 0;
    e->info.record = UINT64_MAX;
    e->info.message = e->msg;
}

int vms_err_set(vms_err *e, int code, uint64_t offset, uint64_t record,
                const char *fmt, ...)
{
    if (e->info.code != VMS_OK)
        return e->info.code;
    e->info.code = code;
    e->info.offset = offset;
    e->info.record = record;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->info.message = e->msg;
    return code;
}

/* descriptor_text.c - the descriptor text parser on arbitrary bytes.
 *
 * A parsed descriptor must survive format -> parse unchanged, format again
 * to identical text, encode -> decode unchanged with canonical bytes, and
 * be compatible with itself unless it denies its own version
 * (vf_descriptor_roundtrip); it is also checked for compatibility against
 * fixed descriptors with and without vendor callbacks.  A rejected text
 * must give a printable message and no descriptor. */
#include <string.h>

#include "fuzz.h"

int vmsfuzz_descriptor_text(const uint8_t *data, size_t size)
{
    vms_descriptor *d = (vms_descriptor *)1;
    vms_descriptor_error err;
    memset(&err, 0x5a, sizeof err);
    int rc = vms_descriptor_parse_text(&d, (const char *)data, size, NULL, &err);
    if (rc != VMS_OK) {
        VF_CHECK(rc == VMS_E_BAD_DESCRIPTOR || rc == VMS_E_NOMEM, "parse returned %d", rc);
        VF_CHECK(d == NULL, "*out not NULL after an error");
        VF_CHECK(err.code == rc, "err.code %d, returned %d", err.code, rc);
        vf_check_printable(err.message, sizeof err.message, "parse error");
        VF_CHECK(err.message[0] != 0, "empty error message");
        return 0;
    }
    VF_CHECK(d != NULL && err.code == VMS_OK && err.message[0] == 0,
             "success without a descriptor or with an error left in err");
    VF_CHECK(size <= VMS_DESC_MAX_TEXT, "accepted %zu bytes of text", size);
    vf_descriptor_roundtrip(d);
    vf_compat_probe(d, vf_hash(data, size));
    vms_descriptor_free(d);
    return 0;
}

#ifdef VMSFUZZ_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return vmsfuzz_descriptor_text(data, size);
}
#endif

/* descriptor_binary.c - the binary descriptor decoder on arbitrary bytes.
 *
 * The decoder accepts only canonical encodings, so decode followed by
 * encode must reproduce the input byte for byte; the decoded descriptor
 * then goes through the same round trips and compatibility probe as the
 * text harness.  A rejected input must give a printable message, an offset
 * inside the input and no descriptor. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

int vmsfuzz_descriptor_binary(const uint8_t *data, size_t size)
{
    vms_descriptor *d = (vms_descriptor *)1;
    vms_descriptor_error err;
    memset(&err, 0x5a, sizeof err);
    int rc = vms_descriptor_decode(&d, data, size, NULL, &err);
    if (rc != VMS_OK) {
        VF_CHECK(rc == VMS_E_BAD_DESCRIPTOR || rc == VMS_E_NOMEM, "decode returned %d", rc);
        VF_CHECK(d == NULL, "*out not NULL after an error");
        VF_CHECK(err.code == rc, "err.code %d, returned %d", err.code, rc);
        VF_CHECK(err.offset <= size, "error offset %llu beyond %zu bytes",
                 (unsigned long long)err.offset, size);
        vf_check_printable(err.message, sizeof err.message, "decode error");
        VF_CHECK(err.message[0] != 0, "empty error message");
        return 0;
    }
    VF_CHECK(d != NULL && err.code == VMS_OK, "success without a descriptor");
    size_t n = 0;
    VF_CHECK(vms_descriptor_encode(d, NULL, 0, &n) == VMS_E_INVALID_ARG && n == size,
             "decoded %zu bytes, encoding needs %zu", size, n);
    uint8_t *out = malloc(n);
    VF_CHECK(out != NULL, "malloc");
    VF_CHECK(vms_descriptor_encode(d, out, n, NULL) == VMS_OK, "encode");
    VF_CHECK(memcmp(out, data, n) == 0, "decode -> encode is not the identity");
    free(out);
    vf_descriptor_roundtrip(d);
    vf_compat_probe(d, vf_hash(data, size));
    vms_descriptor_free(d);
    return 0;
}

#ifdef VMSFUZZ_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return vmsfuzz_descriptor_binary(data, size);
}
#endif

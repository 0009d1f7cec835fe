/* An out-of-tree program built against an installed libvmstream with
 * pkg-config: encodes, decodes and checks a small stream. */
#include <stdio.h>
#include <string.h>
#include <vmstream.h>
#include <vmstream_compat.h>

static size_t got;
static int on_record(void *ctx, const vms_record *r)
{
    (void)ctx;
    got += r->len;
    return 0;
}

int main(void)
{
    static const char state[] = "device state from an installed library";
    vms_membuf mb = {0};
    vms_encoder *e;
    if (vms_encoder_new(&e, vms_sink_membuf, &mb, NULL) != VMS_OK)
        return 1;
    if (vms_encoder_write(e, 1, 0, VMS_PHASE_STOP_COPY, state, sizeof state) != VMS_OK ||
        vms_encoder_finish(e) != VMS_OK)
        return 1;
    vms_encoder_free(e);
    vms_decoder_callbacks cb = {.on_record = on_record};
    vms_decoder *d;
    if (vms_decoder_new(&d, NULL, &cb, NULL) != VMS_OK)
        return 1;
    int rc = vms_decoder_feed(d, mb.data, mb.len, NULL);
    if (rc >= 0)
        rc = vms_decoder_finish(d);
    vms_decoder_free(d);
    vms_membuf_release(&mb);
    printf("libvmstream %s: %s, %zu bytes\n", vms_version(), vms_strerror(rc), got);
    return rc == VMS_END && got == sizeof state ? 0 : 1;
}

//go:build libav

package libav

// The few libav calls go-astiav v0.16.0 does not wrap live here: swscale
// with explicit colour ranges and scaling into a sub-rectangle (letterbox),
// direct access to AVFrame planes and flags, libav's log callback, and
// glibc's heap counters for the leak test. Objects made here are owned by the
// Go value that wraps them and freed by its Close.

/*
#cgo pkg-config: libavcodec libavutil libswscale
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

extern void camrelayLog(int level, char *msg);

static void cr_log_callback(void *avcl, int level, const char *fmt, va_list vl) {
	if (level > av_log_get_level()) return;
	char line[1024];
	int print_prefix = 1;
	// av_log_format_line2 truncates to the buffer (unlike a bare vsprintf)
	// and prefixes the component ("[mjpeg @ 0x...]").
	if (av_log_format_line2(avcl, level, fmt, vl, line, sizeof(line), &print_prefix) < 0) return;
	camrelayLog(level, line);
}

static void cr_log_install(int level) {
	av_log_set_level(level);
	av_log_set_callback(cr_log_callback);
}

// cr_unj maps the deprecated full-range yuvj formats to their plain
// counterparts; the range is passed separately, and swscale warns about
// the yuvj ones.
static int cr_unj(int f) {
	switch (f) {
	case AV_PIX_FMT_YUVJ420P: return AV_PIX_FMT_YUV420P;
	case AV_PIX_FMT_YUVJ422P: return AV_PIX_FMT_YUV422P;
	case AV_PIX_FMT_YUVJ444P: return AV_PIX_FMT_YUV444P;
	case AV_PIX_FMT_YUVJ440P: return AV_PIX_FMT_YUV440P;
	case AV_PIX_FMT_YUVJ411P: return AV_PIX_FMT_YUV411P;
	}
	return f;
}

// cr_sws_new makes a scaler from src to dst with the colour ranges given
// before initialisation, so that swscale never picks its plain-copy path
// when the ranges differ (full-range JPEG into limited-range H.264).
static struct SwsContext *cr_sws_new(int sw, int sh, int sfmt, int sfull, int dw, int dh, int dfmt, int dfull, int flags) {
	sfmt = cr_unj(sfmt);
	dfmt = cr_unj(dfmt);
	struct SwsContext *c = sws_alloc_context();
	if (!c) return NULL;
	if (av_opt_set_int(c, "srcw", sw, 0) < 0 ||
	    av_opt_set_int(c, "srch", sh, 0) < 0 ||
	    av_opt_set_int(c, "src_format", sfmt, 0) < 0 ||
	    av_opt_set_int(c, "src_range", sfull, 0) < 0 ||
	    av_opt_set_int(c, "dstw", dw, 0) < 0 ||
	    av_opt_set_int(c, "dsth", dh, 0) < 0 ||
	    av_opt_set_int(c, "dst_format", dfmt, 0) < 0 ||
	    av_opt_set_int(c, "dst_range", dfull, 0) < 0 ||
	    av_opt_set_int(c, "sws_flags", flags, 0) < 0 ||
	    sws_init_context(c, NULL, NULL) < 0) {
		sws_freeContext(c);
		return NULL;
	}
	return c;
}

// cr_sws_scale scales the whole of src into dst at (x, y); x and y are even
// so the chroma planes of 4:2:0 output start on whole samples.
static int cr_sws_scale(struct SwsContext *c, const AVFrame *src, AVFrame *dst, int x, int y) {
	uint8_t *planes[4] = {0};
	int i;
	for (i = 0; i < 3 && dst->data[i]; i++) {
		int sx = i ? x / 2 : x, sy = i ? y / 2 : y;
		planes[i] = dst->data[i] + (ptrdiff_t)sy * dst->linesize[i] + sx;
	}
	return sws_scale(c, (const uint8_t * const *)src->data, src->linesize, 0, src->height, planes, dst->linesize);
}

// cr_range_420 converts a full-range 4:2:0 picture into a limited-range
// one of the same size at (x, y) of dst, through lookup tables: the MJPEG
// camera at the output size, where swscale's general path costs several
// times more for what is a per-sample mapping.
static void cr_range_420(const AVFrame *src, AVFrame *dst, int x, int y) {
	uint8_t luma[256], chroma[256]; // per call: no shared state between threads
	int i, r, c;
	for (i = 0; i < 256; i++) {
		luma[i] = (uint8_t)(16 + (i * 219 + 127) / 255);
		chroma[i] = (uint8_t)(128 + ((i - 128) * 224 + (i >= 128 ? 127 : -127)) / 255);
	}
	for (i = 0; i < 3; i++) {
		const uint8_t *lut = i ? chroma : luma;
		int w = i ? (src->width + 1) / 2 : src->width;
		int h = i ? (src->height + 1) / 2 : src->height;
		int ox = i ? x / 2 : x, oy = i ? y / 2 : y;
		for (r = 0; r < h; r++) {
			const uint8_t *s = src->data[i] + (ptrdiff_t)r * src->linesize[i];
			uint8_t *d = dst->data[i] + (ptrdiff_t)(r + oy) * dst->linesize[i] + ox;
			for (c = 0; c < w; c++) d[c] = lut[s[c]];
		}
	}
}

static int cr_is_full_range(const AVFrame *f) {
	switch (f->format) {
	case AV_PIX_FMT_YUVJ420P: case AV_PIX_FMT_YUVJ422P: case AV_PIX_FMT_YUVJ444P:
	case AV_PIX_FMT_YUVJ440P: case AV_PIX_FMT_YUVJ411P:
		return 1;
	}
	return f->color_range == AVCOL_RANGE_JPEG;
}

static int cr_frame_corrupt(const AVFrame *f) {
	return (f->flags & AV_FRAME_FLAG_CORRUPT) || f->decode_error_flags;
}

// cr_packet_fill makes pkt a new reference-counted packet holding a copy of
// data, with the zeroed padding libav's bitstream readers may read into.
static int cr_packet_fill(AVPacket *pkt, const void *data, int size) {
	int ret = av_new_packet(pkt, size);
	if (ret < 0) return ret;
	memcpy(pkt->data, data, size);
	return 0;
}

static size_t cr_heap_in_use(void) {
	struct mallinfo2 m = mallinfo2();
	return m.uordblks + m.hblkhd;
}
*/
import "C"

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// avFrame is the AVFrame behind a go-astiav Frame.
func avFrame(f *astiav.Frame) *C.AVFrame { return (*C.AVFrame)(f.UnsafePointer()) }

// Logging: libav logs through one process-wide callback. Messages go to
// slog.Default at debug level, at most logBurst per second: a camera sending
// garbage makes the decoder complain on every frame, and the counters in
// TranscodeStats already say so.
const logBurst = 20

var (
	logOnce   sync.Once
	logWindow atomic.Int64 // unix second of the current window
	logCount  atomic.Int64 // messages logged in it
)

func installLog() {
	logOnce.Do(func() { C.cr_log_install(C.AV_LOG_WARNING) })
}

//export camrelayLog
func camrelayLog(level C.int, msg *C.char) {
	now := time.Now().Unix()
	if w := logWindow.Load(); w != now && logWindow.CompareAndSwap(w, now) {
		logCount.Store(0)
	}
	if logCount.Add(1) > logBurst {
		return
	}
	slog.Debug("libav", "level", int(level), "msg", strings.TrimSpace(C.GoString(msg)))
}

// isFullRange reports whether a decoded picture uses the full 0-255 range.
func isFullRange(f *astiav.Frame) bool { return C.cr_is_full_range(avFrame(f)) != 0 }

// scaler converts and scales decoded pictures into the output canvas. It
// owns one SwsContext, freed by Close.
type scaler struct {
	c          *C.struct_SwsContext
	srcW, srcH int
	srcFmt     astiav.PixelFormat
	srcFull    bool
	dstW, dstH int
	dstFmt     astiav.PixelFormat
	dstFull    bool
	lut        bool // full to limited range at the same size: cr_range_420 instead of swscale
}

// swsFlags: bilinear is close to bicubic for downscaling camera pictures
// and about twice as fast; accurate_rnd avoids the chroma drift of the fast
// paths.
const swsFlags = C.SWS_BILINEAR | C.SWS_ACCURATE_RND

// matches reports whether s already converts src into a dstW x dstH picture.
func (s *scaler) matches(src *astiav.Frame, dstW, dstH int, dstFmt astiav.PixelFormat, dstFull bool) bool {
	return s.c != nil && s.srcW == src.Width() && s.srcH == src.Height() && s.srcFmt == src.PixelFormat() &&
		s.srcFull == (C.cr_is_full_range(avFrame(src)) != 0) &&
		s.dstW == dstW && s.dstH == dstH && s.dstFmt == dstFmt && s.dstFull == dstFull
}

// reset prepares s for pictures like src, freeing the previous context.
func (s *scaler) reset(src *astiav.Frame, dstW, dstH int, dstFmt astiav.PixelFormat, dstFull bool) error {
	s.Close()
	full := C.cr_is_full_range(avFrame(src)) != 0
	c := C.cr_sws_new(C.int(src.Width()), C.int(src.Height()), C.int(src.PixelFormat()), cbool(full),
		C.int(dstW), C.int(dstH), C.int(dstFmt), cbool(dstFull), swsFlags)
	if c == nil {
		return errors.New("swscale: cannot convert " + src.PixelFormat().String() + " to " + dstFmt.String())
	}
	*s = scaler{c: c, srcW: src.Width(), srcH: src.Height(), srcFmt: src.PixelFormat(), srcFull: full,
		dstW: dstW, dstH: dstH, dstFmt: dstFmt, dstFull: dstFull}
	s.lut = full && !dstFull && dstW == s.srcW && dstH == s.srcH && dstFmt == astiav.PixelFormatYuv420P &&
		(s.srcFmt == astiav.PixelFormatYuvj420P || s.srcFmt == astiav.PixelFormatYuv420P)
	return nil
}

// scale draws src into dst at (x, y).
func (s *scaler) scale(src, dst *astiav.Frame, x, y int) error {
	if s.lut {
		C.cr_range_420(avFrame(src), avFrame(dst), C.int(x), C.int(y))
		return nil
	}
	if ret := C.cr_sws_scale(s.c, avFrame(src), avFrame(dst), C.int(x), C.int(y)); ret <= 0 {
		return errors.New("swscale: scaling failed")
	}
	return nil
}

// Close frees the context; s can be reset again.
func (s *scaler) Close() {
	if s.c != nil {
		C.sws_freeContext(s.c)
	}
	*s = scaler{}
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// makeWritable gives f a buffer of its own (copying the picture) if another
// reference to it exists, e.g. one taken by Snapshot.
func makeWritable(f *astiav.Frame) error {
	if ret := C.av_frame_make_writable(avFrame(f)); ret < 0 {
		return astiav.Error(ret)
	}
	return nil
}

// frameCorrupt reports whether the decoder flagged f as damaged.
func frameCorrupt(f *astiav.Frame) bool { return C.cr_frame_corrupt(avFrame(f)) != 0 }

// plane returns plane i of f as a byte slice of linesize*rows bytes, valid
// while f holds its buffer.
func plane(f *astiav.Frame, i, rows int) ([]byte, int) {
	c := avFrame(f)
	ls := int(c.linesize[i])
	if c.data[i] == nil || ls <= 0 {
		return nil, 0
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(c.data[i])), ls*rows), ls
}

// heapInUse is the C heap in use (glibc mallinfo2, all arenas): libav,
// x264 and libopus allocate through malloc, so the leak test watches it.
func heapInUse() int { return int(C.cr_heap_in_use()) }

// avPacket is the AVPacket behind a go-astiav Packet. go-astiav v0.16.0
// keeps it in the struct's only field and has no accessor; reading it lets
// the encoder's output be packetized in place instead of copied into a new
// Go slice per frame. TestPacketLayout checks the assumption.
func avPacket(p *astiav.Packet) *C.AVPacket { return *(**C.AVPacket)(unsafe.Pointer(p)) }

// packetBytes returns p's data without copying, valid until p is unreferenced.
func packetBytes(p *astiav.Packet) []byte {
	c := avPacket(p)
	if c.data == nil || c.size <= 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(c.data)), int(c.size))
}

// fillPacket makes p a new packet holding a copy of data. go-astiav's
// FromData allocates no input padding, which decoders may read.
func fillPacket(p *astiav.Packet, data []byte) error {
	if len(data) == 0 {
		return errors.New("empty packet")
	}
	if ret := C.cr_packet_fill(avPacket(p), unsafe.Pointer(&data[0]), C.int(len(data))); ret < 0 {
		return astiav.Error(ret)
	}
	return nil
}

// setQuality sets the quantiser a qscale encoder (mjpeg) uses for f.
func setQuality(f *astiav.Frame, q int) { avFrame(f).quality = C.int(q) }

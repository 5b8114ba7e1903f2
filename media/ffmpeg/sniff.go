package ffmpeg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// SniffLen is how many bytes of a file Sniff needs to decide.
const SniffLen = 1024

// Format is what the first bytes of a file say it is, and the demuxer that
// reads it and nothing else.
type Format struct {
	// Name is for people: "MP4/MOV (ISO BMFF)", "MPEG-TS".
	Name string
	// Demuxer is ffmpeg's -f for it; empty when the sniffer does not know
	// the kind and ffmpeg probes among SafeDemuxers instead.
	Demuxer string
}

// Known reports whether the sniffer recognised the kind.
func (f Format) Known() bool { return f.Demuxer != "" }

// unrecognised is the Format of bytes the sniffer does not know.
func unrecognised() Format { return Format{Name: "unrecognised"} }

// SafeDemuxers are the demuxers an unrecognised file may be probed with:
// each reads the one stream it is given and opens no other file or URL.
// Playlist and list formats (hls, dash, concat, sdp, image2 patterns) are
// left out on purpose, as is mov's external-reference option (off by
// default, and never turned on here).
const SafeDemuxers = "mov,matroska,avi,mpegts,mpeg,mpegvideo,dv,h264,hevc,m4v,mjpeg,wav,w64,aiff,mp3,ac3,eac3,flac,ogg,aac,amr,asf,flv,ivf," +
	"jpeg_pipe,png_pipe,bmp_pipe,tiff_pipe,webp_pipe,gif"

// RefusedError says a file is a kind that makes ffmpeg open other files or
// URLs: a playlist or a list. Such a file is evidence like any other, kept
// and marked with this error, but never handed to ffmpeg or OpenCV.
type RefusedError struct {
	Kind string // "HLS playlist", "ffconcat list", ...
	Why  string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refused: the file is %s (%s); playlists and lists make the decoder open other files, so it is not decoded", e.Kind, e.Why)
}

// ErrRefused matches every *RefusedError with errors.Is.
var ErrRefused = errors.New("media kind refused")

// Is lets errors.Is(err, ErrRefused) match.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// Sniff names the kind of a file from its first bytes (SniffLen of them,
// or the whole file when shorter). A playlist or list format is a
// *RefusedError; bytes it does not recognise are an unrecognised Format,
// not an error: ffmpeg then probes them among SafeDemuxers only.
func Sniff(head []byte) (Format, error) {
	if err := refusal(head); err != nil {
		return Format{}, err
	}
	for _, s := range sniffers() {
		if s.match(head) {
			return s.format, nil
		}
	}
	return unrecognised(), nil
}

type sniffer struct {
	format Format
	match  func(b []byte) bool
}

// sniffers are tried in order; it matters only where kinds share a magic
// (RIFF holds AVI, WAV and WebP).
func sniffers() []sniffer {
	return []sniffer{
		{Format{"MP4/MOV (ISO BMFF)", "mov"}, isBMFF},
		{Format{"Matroska/WebM", "matroska"}, prefix("\x1a\x45\xdf\xa3")},
		{Format{"AVI", "avi"}, riff("AVI ")},
		{Format{"WAV", "wav"}, riff("WAVE")},
		{Format{"WebP image", "webp_pipe"}, riff("WEBP")},
		{Format{"MPEG-TS", "mpegts"}, isMPEGTS},
		{Format{"MPEG-PS", "mpeg"}, prefix("\x00\x00\x01\xba")},
		{Format{"ASF/WMV", "asf"}, prefix("\x30\x26\xb2\x75\x8e\x66\xcf\x11")},
		{Format{"FLV", "flv"}, prefix("FLV\x01")},
		{Format{"IVF", "ivf"}, prefix("DKIF")},
		{Format{"JPEG image", "jpeg_pipe"}, prefix("\xff\xd8\xff")},
		{Format{"PNG image", "png_pipe"}, prefix("\x89PNG\r\n\x1a\n")},
		{Format{"GIF image", "gif"}, func(b []byte) bool {
			return bytes.HasPrefix(b, []byte("GIF87a")) || bytes.HasPrefix(b, []byte("GIF89a"))
		}},
		{Format{"BMP image", "bmp_pipe"}, isBMP},
		{Format{"TIFF image", "tiff_pipe"}, func(b []byte) bool {
			return bytes.HasPrefix(b, []byte("II*\x00")) || bytes.HasPrefix(b, []byte("MM\x00*"))
		}},
		{Format{"FLAC audio", "flac"}, prefix("fLaC")},
		{Format{"Ogg", "ogg"}, prefix("OggS\x00")},
		{Format{"AMR audio", "amr"}, prefix("#!AMR")},
		{Format{"AIFF audio", "aiff"}, func(b []byte) bool { return len(b) >= 12 && string(b[:4]) == "FORM" && string(b[8:11]) == "AIF" }},
		{Format{"MP3 audio", "mp3"}, isMP3},
		{Format{"AAC audio (ADTS)", "aac"}, func(b []byte) bool { return len(b) >= 2 && b[0] == 0xff && b[1]&0xf6 == 0xf0 }},
		{Format{"H.264 elementary stream", "h264"}, isH264},
		{Format{"H.265 elementary stream", "hevc"}, isH265},
	}
}

func prefix(p string) func([]byte) bool {
	return func(b []byte) bool { return bytes.HasPrefix(b, []byte(p)) }
}

func riff(form string) func([]byte) bool {
	return func(b []byte) bool {
		return len(b) >= 12 && (string(b[:4]) == "RIFF" || string(b[:4]) == "RF64") && string(b[8:12]) == form
	}
}

// isBMFF wants a box type an ISO BMFF or QuickTime file starts with, and
// a size that is a real box header (8 or more, or 1 with a 64-bit size,
// or 0 for "to the end").
func isBMFF(b []byte) bool {
	if len(b) < 8 {
		return false
	}
	switch string(b[4:8]) {
	case "ftyp", "styp", "moov", "mdat", "free", "skip", "wide", "pnot", "uuid", "moof":
	default:
		return false
	}
	size := binary.BigEndian.Uint32(b)
	return size == 0 || size == 1 || size >= 8
}

// isMPEGTS wants the sync byte at the start of three packets in a row, of
// 188 bytes or of 192 (M2TS, with a 4-byte timecode before each packet:
// what camcorders write as .MTS).
func isMPEGTS(b []byte) bool {
	for _, p := range []struct{ first, stride int }{{0, 188}, {4, 192}} {
		if len(b) < p.first+2*p.stride+1 {
			continue
		}
		if b[p.first] == 0x47 && b[p.first+p.stride] == 0x47 && b[p.first+2*p.stride] == 0x47 {
			return true
		}
	}
	// A file shorter than three packets is still one if it holds one whole.
	return len(b) >= 188 && len(b) < 3*188 && b[0] == 0x47 && (len(b) < 189 || b[188] == 0x47)
}

func isBMP(b []byte) bool {
	if len(b) < 18 || string(b[:2]) != "BM" {
		return false
	}
	// The info header that follows the file header is 12 to 124 bytes.
	n := binary.LittleEndian.Uint32(b[14:])
	return n >= 12 && n <= 124
}

// isMP3 wants an ID3v2 tag or an MPEG audio layer III frame header.
func isMP3(b []byte) bool {
	if bytes.HasPrefix(b, []byte("ID3")) && len(b) >= 10 && b[3] < 0xff && b[4] < 0xff {
		return true
	}
	if len(b) < 4 || b[0] != 0xff || b[1]&0xe0 != 0xe0 {
		return false
	}
	version, layer := (b[1]>>3)&3, (b[1]>>1)&3
	bitrate, rate := b[2]>>4, (b[2]>>2)&3
	return version != 1 && layer == 1 && bitrate != 0 && bitrate != 15 && rate != 3
}

// firstNAL returns the byte after the first Annex-B start code, which must
// open the file (after at most a few zero bytes of padding).
func firstNAL(b []byte) ([]byte, bool) {
	i := 0
	for i < len(b) && i < 8 && b[i] == 0 {
		i++
	}
	if i < 2 || i >= len(b) || b[i] != 1 || i+2 >= len(b) {
		return nil, false
	}
	return b[i+1:], true
}

// isH264 wants a stream that opens with the NAL units an encoder or camera
// starts with: access unit delimiter, SEI, SPS, PPS or an IDR slice.
func isH264(b []byte) bool {
	nal, ok := firstNAL(b)
	if !ok || nal[0]&0x80 != 0 {
		return false
	}
	switch nal[0] & 0x1f {
	case 9, 6: // delimiter and SEI carry nal_ref_idc 0
		return nal[0]&0x60 == 0
	case 7, 8, 5:
		return nal[0]&0x60 != 0
	}
	return false
}

// isH265 is isH264 for HEVC's two-byte NAL header: VPS, SPS, PPS,
// delimiter, prefix SEI or an IDR picture, in layer 0, temporal id 1 or more.
func isH265(b []byte) bool {
	nal, ok := firstNAL(b)
	if !ok || nal[0]&0x81 != 0 || nal[1]&0xf8 != 0 || nal[1]&7 == 0 {
		return false
	}
	switch nal[0] >> 1 {
	case 32, 33, 34, 35, 39, 19, 20:
		return true
	}
	return false
}

// refusal names the playlist and list formats: text that makes ffmpeg (or
// GStreamer, should OpenCV fall back to it) open the files or URLs it
// names. They are recognised by their own headers, after an optional
// byte-order mark and leading white space.
func refusal(head []byte) error {
	b := bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	b = bytes.TrimLeft(b, " \t\r\n")
	lower := bytes.ToLower(b[:min(len(b), 64)])
	switch {
	case bytes.HasPrefix(b, []byte("#EXTM3U")):
		return &RefusedError{Kind: "an HLS/M3U playlist", Why: "starts with #EXTM3U"}
	case bytes.HasPrefix(b, []byte("#EXTINF")) || bytes.HasPrefix(b, []byte("#EXT-X-")):
		return &RefusedError{Kind: "an M3U playlist", Why: "starts with an #EXT tag"}
	case bytes.HasPrefix(b, []byte("ffconcat version")):
		return &RefusedError{Kind: "an ffconcat list", Why: "starts with 'ffconcat version'"}
	case bytes.HasPrefix(b, []byte("v=0")):
		return &RefusedError{Kind: "an SDP session description", Why: "starts with v=0"}
	case bytes.HasPrefix(lower, []byte("[playlist]")):
		return &RefusedError{Kind: "a PLS playlist", Why: "starts with [playlist]"}
	case bytes.HasPrefix(b, []byte("<")):
		return &RefusedError{Kind: "an XML or HTML document (DASH manifest, SMIL, ASX or XSPF playlist)", Why: "starts with <"}
	case bytes.HasPrefix(lower, []byte("file ")) || bytes.HasPrefix(lower, []byte("file'")):
		return &RefusedError{Kind: "a concat list", Why: "starts with a file directive"}
	}
	return nil
}

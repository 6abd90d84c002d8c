package codec

// WebRTCPlayable says whether browsers can play a track that MediaMTX
// serves over WebRTC as it is, and if not, why (and so whether a camera
// needs mode: transcode for WebRTC viewers).
func WebRTCPlayable(t Track) (bool, string) {
	switch t.Codec {
	case "H264", "VP8", "VP9", "AV1":
		return true, ""
	case "H265":
		return false, "H.265 plays over WebRTC only in Safari and some Chrome builds; transcode to H.264"
	case "JPEG":
		return false, "MJPEG cannot be sent over WebRTC; transcode to H.264"
	case "OPUS", "PCMU", "PCMA", "G722":
		return true, ""
	case "MPEG4-GENERIC", "MP4A-LATM":
		return false, "AAC cannot be sent over WebRTC; use audio: opus"
	}
	if t.Kind == KindApplication {
		return true, "data track, not sent to browsers"
	}
	return false, t.Codec + " is not a WebRTC codec; transcode"
}

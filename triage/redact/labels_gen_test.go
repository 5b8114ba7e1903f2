package redact

import (
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gocv.io/x/gocv"
)

// TestGenerateRoomHeadLabels writes testdata/room-heads.labels.txt, the
// head boxes of room-people-enter-leave.mp4 that the far-people test
// checks. It runs only with EDGETRIAGE_REGEN_LABELS=1; the labels file
// says how they were made and checked.
//
// The camera is fixed and the room is empty for the first 5 s, so a person
// is what differs from the empty room: the largest region whose grey level
// differs by more than 40 from the first frame's (blurred, opened and
// closed). The head is the top of that silhouette: rows down to a seventh
// of its height, as wide as the silhouette is there. Frames where the
// silhouette touches the frame's edge (someone entering or leaving, cut)
// are not labelled.
func TestGenerateRoomHeadLabels(t *testing.T) {
	if os.Getenv("EDGETRIAGE_REGEN_LABELS") == "" {
		t.Skip("set EDGETRIAGE_REGEN_LABELS=1 to rewrite testdata/room-heads.labels.txt")
	}
	vc, err := gocv.VideoCaptureFile(filepath.Join(footage, "room-people-enter-leave.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	frame, grey, bg, diff, mask := gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	defer frame.Close()
	defer grey.Close()
	defer bg.Close()
	defer diff.Close()
	defer mask.Close()
	k := gocv.GetStructuringElement(gocv.MorphEllipse, image.Pt(7, 7))
	defer k.Close()
	var lines []string
	sheet := os.Getenv("EDGETRIAGE_LABEL_SHEETS") // a directory for check images
	for i := 0; vc.Read(&frame) && !frame.Empty(); i++ {
		gocv.CvtColor(frame, &grey, gocv.ColorBGRToGray)
		gocv.GaussianBlur(grey, &grey, image.Pt(5, 5), 0, 0, gocv.BorderDefault)
		if i == 0 {
			grey.CopyTo(&bg)
			continue
		}
		gocv.AbsDiff(grey, bg, &diff)
		gocv.Threshold(diff, &mask, 40, 255, gocv.ThresholdBinary)
		gocv.MorphologyEx(mask, &mask, gocv.MorphOpen, k)
		gocv.MorphologyEx(mask, &mask, gocv.MorphClose, k)
		head, ok := headFromMask(mask)
		if !ok {
			continue
		}
		lines = append(lines, fmt.Sprintf("%d person %d %d %d %d", i, head.Min.X, head.Min.Y, head.Max.X, head.Max.Y))
		if sheet != "" && i%20 == 0 {
			gocv.Rectangle(&frame, head, color.RGBA{255, 0, 0, 0}, 1)
			gocv.IMWrite(filepath.Join(sheet, fmt.Sprintf("f%04d.png", i)), frame)
		}
	}
	header := `# Head boxes in ../../../testdata/footage/room-people-enter-leave.mp4 (768x432, 10 fps),
# for the far-people test (which shrinks the clip 5x: heads 12-16 px, people 60-76 px).
#
# Made by TestGenerateRoomHeadLabels (labels_gen_test.go): the camera is fixed and the
# room empty on frame 0, so a person is the largest region that differs from frame 0
# by more than 40 grey levels; the head is the silhouette's top seventh, as wide as the
# silhouette there. Frames whose silhouette touches the frame's edge, is under 250 px
# high or wider than high (part of someone, a moved object), or whose top is more than
# twice as wide as a seventh of the height (an arm raised beside the head) are not labelled.
# Checked by eye: every 20th frame was drawn with its box (EDGETRIAGE_LABEL_SHEETS) and
# looked at on contact sheets; the box sits on the head (with hair) on all of them.
#
# frame person x0 y0 x1 y1   (pixels, x1/y1 exclusive; frame is 0-based)
`
	if err := os.WriteFile("testdata/room-heads.labels.txt", []byte(header+strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d frames labelled", len(lines))
}

// headFromMask finds the largest silhouette and returns its head box.
func headFromMask(mask gocv.Mat) (image.Rectangle, bool) {
	contours := gocv.FindContours(mask, gocv.RetrievalExternal, gocv.ChainApproxSimple)
	defer contours.Close()
	best, bestArea := -1, 0.0
	for i := 0; i < contours.Size(); i++ {
		if a := gocv.ContourArea(contours.At(i)); a > bestArea {
			best, bestArea = i, a
		}
	}
	if best < 0 || bestArea < 2000 {
		return image.Rectangle{}, false
	}
	body := gocv.BoundingRect(contours.At(best))
	frame := image.Rect(0, 0, mask.Cols(), mask.Rows())
	// A whole person standing or walking in this room is 250 px or more
	// high and taller than wide; anything else is part of someone at the
	// edge, a moved object or a shadow.
	if !body.In(frame.Inset(2)) || body.Dy() < 250 || body.Dx() > body.Dy() {
		return image.Rectangle{}, false
	}
	headH := body.Dy() / 7
	x0, x1 := body.Max.X, body.Min.X
	for y := body.Min.Y; y < body.Min.Y+headH; y++ {
		for x := body.Min.X; x < body.Max.X; x++ {
			if mask.GetUCharAt(y, x) > 0 {
				x0, x1 = min(x0, x), max(x1, x+1)
			}
		}
	}
	// An arm raised to the head's height widens the top of the
	// silhouette: no head box then.
	if x1 <= x0 || x1-x0 > 2*headH {
		return image.Rectangle{}, false
	}
	return image.Rect(x0, body.Min.Y, x1, body.Min.Y+headH), true
}

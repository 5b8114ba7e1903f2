// Package opencv holds the process-wide settings of the OpenCV library
// that triage runs on, which gocv does not expose.
package opencv

// #cgo pkg-config: opencv4
// #cgo CXXFLAGS: --std=c++11
// #include "threads.h"
import "C"

// SetThreads sets how many threads OpenCV's own parallel loops may use,
// for the whole process; 0 or 1 runs them on the calling thread.
//
// The appliance runs triage, redaction and ffmpeg children side by side on
// a station's few cores, so it parallelises across them already. Inside
// the motion detector OpenCV splits 320x180 operations over its thread
// pool, whose workers then spin on a core an ffmpeg decoder needed: on two
// cores, one thread cut the detector's CPU by a tenth and its decoder's
// by a fifteenth, and redaction ran as fast as with the pool.
func SetThreads(n int) { C.edgetriage_opencv_set_threads(C.int(n)) }

// Threads reports how many threads OpenCV's parallel loops may use.
func Threads() int { return int(C.edgetriage_opencv_threads()) }

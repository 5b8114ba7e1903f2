package opencv

import "testing"

func TestSetThreads(t *testing.T) {
	before := Threads()
	defer SetThreads(before)
	SetThreads(1)
	if got := Threads(); got != 1 {
		t.Fatalf("after SetThreads(1): OpenCV uses %d threads", got)
	}
	SetThreads(2)
	if got := Threads(); got != 2 {
		t.Fatalf("after SetThreads(2): OpenCV uses %d threads", got)
	}
}

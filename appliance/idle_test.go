package appliance

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/testkit"
)

// An idle station does not read its custody chain: the pipeline stages and
// a dashboard viewer's live feed read it when the vault says it grew, and
// catch up at once when it does.
func TestIdleDaemonDoesNotReadTheChain(t *testing.T) {
	d, base := startDaemon(t, nil)
	ctx := context.Background()
	caughtUp := func() bool {
		head, _ := d.vault.Head()
		for _, s := range d.stages {
			if cur, _ := s.Cursor(); cur != head.Seq {
				return false
			}
		}
		return true
	}
	if _, _, err := d.vault.IngestReader(ctx, strings.NewReader("notes"), evidence.Intake{Source: "cli", OriginalName: "notes.txt"}); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "every stage to catch up with the ingest", 20*time.Second, caughtUp)

	addStaff(t, d, "pc-7")
	sess, err := d.auth.Login(ctx, "pc-7", staffPassword, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/events", nil)
	req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: sess.Token})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	custody := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "event: custody") {
				custody <- sc.Text()
			}
		}
	}()
	<-custody // the viewer's backlog has been sent

	// A health alarm may append an event at any time; a window counts only
	// when the chain did not grow in it.
	idle := false
	for try := 0; try < 5 && !idle; try++ {
		testkit.WaitFor(t, "every stage to catch up", 20*time.Second, caughtUp)
		time.Sleep(100 * time.Millisecond) // the viewer reads what woke the stages
		head, _ := d.vault.Head()
		reads := d.vault.ChainReads()
		time.Sleep(3 * time.Second)
		now, _ := d.vault.Head()
		if now.Seq != head.Seq {
			continue
		}
		if n := d.vault.ChainReads() - reads; n != 0 {
			t.Fatalf("the chain was read %d times in 3 s while nothing was appended", n)
		}
		idle = true
	}
	if !idle {
		t.Fatal("the chain kept growing; no idle window to measure")
	}
	for len(custody) > 0 {
		<-custody
	}
	if _, _, err := d.vault.IngestReader(ctx, strings.NewReader("more notes"), evidence.Intake{Source: "cli", OriginalName: "more.txt"}); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the stages to catch up with a new ingest", 5*time.Second, caughtUp)
	select {
	case <-custody:
	case <-time.After(5 * time.Second):
		t.Fatal("the viewer's live feed did not show the new ingest")
	}
}

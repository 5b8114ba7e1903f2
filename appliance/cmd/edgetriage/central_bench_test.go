package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/central/store/pgtest"
	"github.com/edgetriage/edgetriage/testkit"
)

// BenchmarkCentralPull: what `edgetriage central serve` pulls from three
// real stations (items of 8 MiB ingested with the CLI), by one and by two
// workers, against the raw path in the same op: an HTTP GET of each item
// from its station and a plain S3 PutObject of the bytes, one stream per
// station as central runs them. Central does more per item (manifest and
// signature, retention, ack, receipt, database), which is what the ratio
// prices. One op pulls every item once each way; the central clock starts
// once the workers answer (started, database migrated).
//
// Where central's time goes is read from the workers' own step timings
// (edgetriage_central_step_seconds) in the same op: seconds per item for
// the manifest, the transfer, the acknowledgement, and within it the
// station's answer alone (its fsync'd custody write), and per round for
// witnessing. With BENCH_CENTRAL_PROFILE=DIR set, every worker also
// writes a CPU profile there (go tool pprof DIR/workers=1-bench-0.pprof); not EDGETRIAGE_*, which
// the stations would take for configuration.
func BenchmarkCentralPull(b *testing.B) {
	const perStation, size = 6, 8 << 20
	stations := map[string]*station{}
	for _, id := range []string{"st-1", "st-2", "st-3"} {
		st := newStation(b, stationOptions{})
		args := []string{"ingest", "--data", st.data, "--source", "bench"}
		for i := range perStation {
			args = append(args, bigClip(b, filepath.Join(st.dir, fmt.Sprintf("item-%d.bin", i)), size))
		}
		if r := run(b, args...); r.code != 0 {
			b.Fatalf("ingest: %s", r.stderr)
		}
		stations[id] = st
	}
	conn := testkit.S3(b)
	// One witness key for every op, pinned by the stations as in service.
	keys := b.TempDir()
	(&fleet{t: b, dir: keys, dsn: "postgres://unused@127.0.0.1/unused", s3: conn, bucket: "unused", stations: stations}).pinWitness()
	for _, st := range stations {
		st.serve()
	}
	items := map[string][]evidence.Item{}
	for id, st := range stations {
		got, err := st.items()
		if err != nil {
			b.Fatal(err)
		}
		for _, it := range got {
			items[id] = append(items[id], it)
		}
	}
	total := int64(3 * perStation * size)
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			var ratios, central, raw []float64
			perStep := map[string][]float64{}
			for range b.N {
				rawTime := rawPull(b, conn, stations, items)
				f := &fleet{t: b, dir: b.TempDir(), dsn: pgtest.NewDatabase(b), s3: conn, stations: stations,
					pull: evidence.PullFilter{Origins: []string{"cli"}}, witnessKey: filepath.Join(keys, "witness.key")}
				f.bucket = testkit.NewBucket(b, conn, true)
				// The clock starts when the workers are up (process started,
				// database migrated): what is measured is pulling, not start-up.
				var ws []*centralWorker
				for i := range workers {
					id := fmt.Sprintf("bench-%d", i)
					if dir := os.Getenv("BENCH_CENTRAL_PROFILE"); dir != "" {
						f.extraArgs = []string{"--cpuprofile", filepath.Join(dir, fmt.Sprintf("workers=%d-%s.pprof", workers, id))}
					}
					ws = append(ws, f.launchWorker(id))
				}
				for _, w := range ws {
					w.waitUp(b)
				}
				start := time.Now()
				// Counted in the database, not asked of the stations, so the
				// watching does not load what is measured.
				for n := 0; n < 3*perStation; n = f.ackedCount() {
					if time.Since(start) > 10*time.Minute {
						b.Fatalf("central acknowledged %d of %d items in 10 minutes", n, 3*perStation)
					}
					time.Sleep(50 * time.Millisecond)
				}
				el := time.Since(start)
				steps := map[string]stepTotal{}
				for _, w := range ws {
					for step, t := range w.steps(b) {
						steps[step] = steps[step].add(t)
					}
					w.stop()
				}
				for step, t := range steps {
					perStep[step] = append(perStep[step], t.mean())
				}
				central = append(central, el.Seconds())
				raw = append(raw, rawTime.Seconds())
				ratios = append(ratios, el.Seconds()/rawTime.Seconds())
			}
			n := float64(3 * perStation)
			b.ReportMetric(n/median(central), "items/s")
			b.ReportMetric(float64(total)/(1<<20)/median(central), "MB/s")
			b.ReportMetric(float64(total)/(1<<20)/median(raw), "raw-MB/s")
			b.ReportMetric(median(ratios), "time/raw")
			for step, unit := range map[string]string{"manifest": "item", "transfer": "item", "ack": "item", "station-ack": "item", "witness": "round"} {
				if len(perStep[step]) > 0 {
					b.ReportMetric(median(perStep[step]), step+"-s/"+unit)
				}
			}
		})
	}
}

func (f *fleet) ackedCount() int {
	rows := f.query(`SELECT count(*) FROM items WHERE status = 'acked'`)
	defer rows.Close()
	n := 0
	for rows.Next() {
		rows.Scan(&n)
	}
	return n
}

// rawPull GETs every item from its station and PUTs it into a fresh plain
// bucket, one stream per station, and returns how long that took.
func rawPull(b *testing.B, conn testkit.S3Conn, stations map[string]*station, items map[string][]evidence.Item) time.Duration {
	b.Helper()
	bucket := testkit.NewBucket(b, conn, false)
	client := testkit.S3Client(b, conn)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(stations))
	for id, st := range stations {
		wg.Go(func() {
			for _, it := range items[id] {
				req, _ := http.NewRequest(http.MethodGet, st.base+"/api/v1/central/items/"+it.Digest.String()+"/content", nil)
				req.Header.Set("Authorization", "Bearer "+st.token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					return
				}
				_, err = client.PutObject(context.Background(), bucket, id+"/"+it.Digest.String(), resp.Body, it.Size, minio.PutObjectOptions{})
				resp.Body.Close()
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatalf("raw pull: %v", err)
	}
	return time.Since(start)
}

// stepTotal is one step's timings summed over a worker's life.
type stepTotal struct {
	seconds float64
	count   float64
}

func (t stepTotal) add(o stepTotal) stepTotal {
	return stepTotal{t.seconds + o.seconds, t.count + o.count}
}

func (t stepTotal) mean() float64 {
	if t.count == 0 {
		return 0
	}
	return t.seconds / t.count
}

// steps reads the worker's step timings from its /metrics.
func (w *centralWorker) steps(t testing.TB) map[string]stepTotal {
	t.Helper()
	resp, err := http.Get(w.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	steps := map[string]stepTotal{}
	for line := range strings.Lines(string(body)) {
		var step string
		var v float64
		if n, _ := fmt.Sscanf(line, "edgetriage_central_step_seconds_sum{step=%q} %g", &step, &v); n == 2 {
			steps[step] = stepTotal{seconds: v, count: steps[step].count}
		}
		if n, _ := fmt.Sscanf(line, "edgetriage_central_step_seconds_count{step=%q} %g", &step, &v); n == 2 {
			steps[step] = stepTotal{seconds: steps[step].seconds, count: v}
		}
	}
	if len(steps) == 0 {
		t.Fatalf("worker %s reports no step timings:\n%s", w.id, body)
	}
	return steps
}

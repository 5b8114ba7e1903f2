package central

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/central/store"
	"github.com/edgetriage/edgetriage/central/store/pgtest"
	"github.com/edgetriage/edgetriage/sync/s3"
	"github.com/edgetriage/edgetriage/sync/target"
	"github.com/edgetriage/edgetriage/testkit"
)

// faultyStation serves the pull API for one item, with the faults a real
// station cannot be made to show: a manifest signed by another key, bytes
// that are not the announced ones, an ack it refuses. Everything else is
// what the appliance serves (signed manifest, Range, signed receipt).
type faultyStation struct {
	key       ed25519.PrivateKey // the station's own, pinned by central
	signer    ed25519.PrivateKey // what signs manifests and receipts
	item      evidence.Item
	body      []byte
	served    []byte // bytes served as content
	ackStatus int
	// offersChallenges makes the station take only proof-of-possession
	// acks, as issue 15 specifies them: it checks proof and manifest hash.
	offersChallenges bool
	nonce            []byte
}

func newFaultyStation(t *testing.T) *faultyStation {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	body := make([]byte, 300<<10)
	rand.Read(body)
	it := evidence.Item{Digest: evidence.DigestBytes(body), Size: int64(len(body)), Kind: evidence.KindVideo, State: evidence.StateStored,
		Source: "BWC-1", IngestedAt: time.Now().UTC().Truncate(time.Second), Labels: map[string]string{"origin": "dock"}}
	return &faultyStation{key: key, signer: key, item: it, body: body, served: body, ackStatus: http.StatusOK}
}

func (f *faultyStation) manifest(t *testing.T) []byte {
	ev := evidence.CustodyEvent{Seq: 1, Time: f.item.IngestedAt, Actor: "dock:bay-1", Action: evidence.ActionIngested,
		Item: f.item.Digest, Details: map[string]string{"record": f.item.RecordHash().String()}}
	ev.Hash = ev.ComputeHash()
	pub := f.signer.Public().(ed25519.PublicKey)
	m := evidence.Manifest{Format: evidence.ManifestFormat, KeyID: evidence.KeyID(pub), PublicKey: hex.EncodeToString(pub),
		Item: f.item, Events: []evidence.CustodyEvent{ev}, Links: []evidence.ChainLink{ev.Link()},
		Checkpoint: evidence.SignCheckpoint(f.signer, ev, time.Now())}
	raw, err := evidence.SignManifest(f.signer, m)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func (f *faultyStation) serve(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	item := "/api/v1/central/items/" + f.item.Digest.String()
	mux.HandleFunc("GET /api/v1/central/changes", func(w http.ResponseWriter, r *http.Request) {
		changes := []map[string]any{{"seq": 1, "action": "ingested", "item": f.item}}
		if r.URL.Query().Get("after") != "0" {
			changes = nil
		}
		json.NewEncoder(w).Encode(map[string]any{"changes": changes, "next": 1})
	})
	mux.HandleFunc("GET "+item+"/manifest", func(w http.ResponseWriter, _ *http.Request) { w.Write(f.manifest(t)) })
	mux.HandleFunc("GET "+item+"/content", func(w http.ResponseWriter, r *http.Request) {
		off := int64(0)
		if rng := r.Header.Get("Range"); rng != "" {
			off, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(rng, "bytes="), "-"), 10, 64)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, len(f.served)-1, len(f.served)))
			w.Header().Set("Content-Length", strconv.Itoa(len(f.served)-int(off)))
			w.WriteHeader(http.StatusPartialContent)
		} else {
			w.Header().Set("Content-Length", strconv.Itoa(len(f.served)))
		}
		w.Write(f.served[off:])
	})
	if f.offersChallenges {
		mux.HandleFunc("POST "+item+"/challenge", func(w http.ResponseWriter, _ *http.Request) {
			f.nonce = make([]byte, 32)
			rand.Read(f.nonce)
			json.NewEncoder(w).Encode(map[string]any{"challenge": hex.EncodeToString(f.nonce), "expires_at": time.Now().Add(time.Minute)})
		})
	}
	mux.HandleFunc("POST "+item+"/ack", func(w http.ResponseWriter, r *http.Request) {
		if f.offersChallenges && !f.proven(t, r) {
			http.Error(w, `{"error":"proof of possession does not verify"}`, http.StatusConflict)
			return
		}
		if f.ackStatus != http.StatusOK {
			http.Error(w, `{"error":"digest echoed without the bytes"}`, f.ackStatus)
			return
		}
		sr, _ := evidence.SignReceipt(f.signer, evidence.Receipt{Digest: f.item.Digest, Time: time.Now().UTC(), Seq: 2,
			Appliance: evidence.KeyID(f.signer.Public().(ed25519.PublicKey)), Central: "hq"})
		json.NewEncoder(w).Encode(sr)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// proven checks an ack's proof: SHA-256 over the ack domain, the nonce and
// the whole content, and the hash of the manifest as served.
func (f *faultyStation) proven(t *testing.T, r *http.Request) bool {
	var ack struct {
		Challenge, Proof, ManifestSHA256 string `json:"-"`
	}
	var raw map[string]string
	if json.NewDecoder(r.Body).Decode(&raw) != nil {
		return false
	}
	ack.Challenge, ack.Proof, ack.ManifestSHA256 = raw["challenge"], raw["proof"], raw["manifest_sha256"]
	h := sha256.New()
	h.Write([]byte("edgetriage-ack-v1\n"))
	h.Write(f.nonce)
	h.Write(f.body)
	return ack.Challenge == hex.EncodeToString(f.nonce) && ack.Proof == hex.EncodeToString(h.Sum(nil)) && len(ack.ManifestSHA256) == 64
}

// TestRefusedItemsRaiseAlarms: against both S3 implementations, a manifest
// the pinned key did not sign and bytes that do not hash to the announced
// digest are refused with an alarm and nothing stored; a refused ack leaves
// the item stored, unacknowledged, with a receipt-refused alarm; the good
// station's item is stored, acknowledged and verifies from S3 alone.
func TestRefusedItemsRaiseAlarms(t *testing.T) {
	for _, srv := range testkit.S3Servers(t) {
		t.Run(srv.Name, func(t *testing.T) { refusals(t, srv.Conn) })
	}
}

func refusals(t *testing.T, conn testkit.S3Conn) {
	stations := map[string]*faultyStation{"good": newFaultyStation(t), "forged": newFaultyStation(t),
		"corrupt": newFaultyStation(t), "refuses": newFaultyStation(t)}
	_, stations["forged"].signer, _ = ed25519.GenerateKey(rand.Reader)
	stations["corrupt"].served = append([]byte("X"), stations["corrupt"].body[1:]...)
	stations["refuses"].ackStatus = http.StatusConflict
	// Stations taking only proof-of-possession acks: one proven over the
	// bytes as they stream, one over central's stored copy (the item is
	// there before the worker starts, so nothing streams).
	stations["proves"], stations["proves-stored"] = newFaultyStation(t), newFaultyStation(t)
	stations["proves"].offersChallenges, stations["proves-stored"].offersChallenges = true, true
	cfg := Config{WorkerID: "w1", LeaseTTL: 3 * time.Second, PollInterval: 200 * time.Millisecond, SilentAfter: time.Hour,
		Storage: Storage{Endpoint: conn.Endpoint, Region: conn.Region, Bucket: testkit.NewBucket(t, conn, true),
			AccessKey: conn.AccessKey, SecretKey: conn.SecretKey, Retention: time.Hour}}
	cfg.Database.DSN = pgtest.NewDatabase(t)
	cfg.HTTP.Addr = "127.0.0.1:0"
	for id, st := range stations {
		t.Setenv("TOKEN_"+strings.ToUpper(id), "et_token")
		cfg.Stations = append(cfg.Stations, Station{ID: id, URL: st.serve(t).URL, TokenEnv: "TOKEN_" + strings.ToUpper(id),
			PublicKey: hex.EncodeToString(st.key.Public().(ed25519.PublicKey))})
	}
	if err := cfg.fill(); err != nil {
		t.Fatal(err)
	}
	pre, err := cfg.Storage.target(target.Prefixed("proves-stored"), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ps := stations["proves-stored"]
	if _, err := pre.PutStream(context.Background(), s3.Stream{Digest: ps.item.Digest, Size: ps.item.Size, Manifest: ps.manifest(t),
		Open: func(context.Context, int64) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(ps.body)), nil
		}}, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc, err := New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	done := make(chan error, 1)
	go func() { done <- svc.RunWorker(ctx) }()

	want := map[string]struct{ status, alarm string }{
		"good": {store.StatusAcked, ""}, "forged": {store.StatusFailed, store.AlarmSignature},
		"proves": {store.StatusAcked, ""}, "proves-stored": {store.StatusAcked, ""},
		"corrupt": {store.StatusFailed, store.AlarmDigest}, "refuses": {store.StatusStored, store.AlarmReceipt},
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := map[string]string{}
		items, err := svc.store.Items(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			got[it.Station] = it.Status
		}
		alarms, _ := svc.store.Alarms(ctx, "", true)
		kinds := map[string]string{}
		for _, a := range alarms {
			kinds[a.Station] = a.Kind
		}
		ok := true
		for id, w := range want {
			ok = ok && got[id] == w.status && kinds[id] == w.alarm
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: statuses %v, open alarms %v", got, kinds)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	<-done

	for id, st := range stations {
		tg, err := cfg.Storage.target(target.Prefixed(id), nil, svc.log)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = tg.Open(context.Background(), st.item.Digest)
		stored := err == nil
		if wantStored := id != "forged" && id != "corrupt"; stored != wantStored || (err != nil && !errors.Is(err, s3.ErrNotFound)) {
			t.Errorf("%s: stored %v (%v), want %v", id, stored, err, wantStored)
		}
	}
	if _, err := Verify(context.Background(), cfg, "good", stations["good"].item.Digest); err != nil {
		t.Errorf("verify the good station's item from S3: %v", err)
	}
	if _, err := Verify(context.Background(), cfg, "refuses", stations["refuses"].item.Digest); err == nil {
		t.Error("an item without a receipt verifies")
	}
}

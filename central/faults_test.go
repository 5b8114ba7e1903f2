package central

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
	"github.com/edgetriage/edgetriage/central/store"
	"github.com/edgetriage/edgetriage/central/store/pgtest"
	"github.com/edgetriage/edgetriage/sync/s3"
	"github.com/edgetriage/edgetriage/sync/target"
	"github.com/edgetriage/edgetriage/testkit"
)

// faultyStation serves the pull API for one item, with the faults a real
// station cannot be made to show: a manifest or checkpoint signed by
// another key, bytes that are not the announced ones, an ack it refuses, a
// receipt that names something else, a log that forks or cannot prove
// itself. Everything else is what the appliance serves: v2 manifests with
// inclusion proofs, Range, ack challenges checked against the bytes,
// checkpoints and consistency proofs of a real Merkle tree, envelope
// receipts.
type faultyStation struct {
	mu        sync.Mutex
	key       ed25519.PrivateKey // the station's own, pinned by central
	signer    ed25519.PrivateKey // what signs manifests and receipts
	logSigner ed25519.PrivateKey // what signs the log's checkpoints
	item      evidence.Item
	record    []byte
	body      []byte
	served    []byte   // bytes served as content
	log       *fakeLog // what the log routes serve
	proving   *fakeLog // what manifests prove the item in (log, unless it forks there)
	ackStatus int
	// v1 serves a manifest of the old format (chain links, no log).
	v1 bool
	// lyingReceipt signs a receipt naming another manifest.
	lyingReceipt bool
	// strict takes an ack only once it served the whole item (as a real
	// station does); servedWhole says it did.
	strict, servedWhole bool
	// cosignStatus is the answer to a posted cosignature (200: kept).
	cosignStatus int
	// forkAfterCosign shows another history (signed with the same key)
	// once central has co-signed the first; the item appears in the feed
	// once a checkpoint of it was served. unprovable refuses consistency
	// proofs once co-signed.
	forkAfterCosign, unprovable bool
	other                       *fakeLog
	forkShown                   int // checkpoints of the other history served
	cosigned                    [][]byte
	nonce                       []byte
}

func newFaultyStation(t *testing.T) *faultyStation {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	body := make([]byte, 300<<10)
	rand.Read(body)
	it := evidence.Item{Digest: evidence.DigestBytes(body), Size: int64(len(body)), Kind: evidence.KindVideo, State: evidence.StateStored,
		Source: "BWC-1", IngestedAt: time.Now().UTC().Truncate(time.Second), Labels: map[string]string{"origin": "dock"}}
	f := &faultyStation{key: key, signer: key, logSigner: key, item: it, body: body, served: body, ackStatus: http.StatusOK, cosignStatus: http.StatusOK}
	f.log = newFakeLog(key, string(evidence.ActionKeyCreated), string(evidence.ActionAppliedMigrate))
	f.record = f.log.ingest(it)
	f.log.append(evidence.CustodyEvent{Actor: "triage", Action: evidence.ActionTriaged, Item: it.Digest})
	f.proving = f.log
	return f
}

// forkedHistory is another history under the same key: the same start,
// then other events, then the item.
func (f *faultyStation) forkedHistory() *fakeLog {
	l := newFakeLog(f.key, string(evidence.ActionKeyCreated), string(evidence.ActionLogin), string(evidence.ActionLogin), string(evidence.ActionLogin))
	l.ingest(f.item)
	return l
}

func (f *faultyStation) manifest() []byte {
	if !f.v1 {
		return f.proving.manifest(f.signer, f.item, f.record)
	}
	ev := evidence.CustodyEvent{Seq: 1, Time: f.item.IngestedAt, Actor: "dock:bay-1", Action: evidence.ActionIngested,
		Item: f.item.Digest, Details: map[string]string{"record": f.item.RecordHash().String()}}
	ev.Hash = ev.ComputeHash()
	pub := f.signer.Public().(ed25519.PublicKey)
	m := evidence.Manifest{Format: evidence.ManifestFormat, KeyID: evidence.KeyID(pub), PublicKey: hex.EncodeToString(pub),
		Item: f.item, Events: []evidence.CustodyEvent{ev}, Links: []evidence.ChainLink{ev.Link()},
		Checkpoint: evidence.SignCheckpoint(f.signer, ev, time.Now())}
	raw, err := evidence.SignManifest(f.signer, m)
	if err != nil {
		panic(err)
	}
	return raw
}

func (f *faultyStation) serve(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	item := "/api/v1/central/items/" + f.item.Digest.String()
	locked := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			defer f.mu.Unlock()
			h(w, r)
		}
	}
	mux.HandleFunc("GET /api/v1/central/changes", locked(func(w http.ResponseWriter, r *http.Request) {
		changes := []map[string]any{{"seq": 3, "action": "ingested", "item": f.item}}
		if r.URL.Query().Get("after") != "0" || (f.forkAfterCosign && f.forkShown == 0) {
			changes = nil
		}
		next := 3
		if changes == nil {
			next, _ = strconv.Atoi(r.URL.Query().Get("after"))
		}
		json.NewEncoder(w).Encode(map[string]any{"changes": changes, "next": next})
	}))
	mux.HandleFunc("GET "+item+"/manifest", locked(func(w http.ResponseWriter, _ *http.Request) { w.Write(f.manifest()) }))
	mux.HandleFunc("GET "+item+"/content", locked(func(w http.ResponseWriter, r *http.Request) {
		off := int64(0)
		if rng := r.Header.Get("Range"); rng != "" {
			off, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(rng, "bytes="), "-"), 10, 64)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, len(f.served)-1, len(f.served)))
			w.Header().Set("Content-Length", strconv.Itoa(len(f.served)-int(off)))
			w.WriteHeader(http.StatusPartialContent)
		} else {
			w.Header().Set("Content-Length", strconv.Itoa(len(f.served)))
		}
		if n, _ := w.Write(f.served[off:]); off == 0 && n == len(f.served) {
			f.servedWhole = true
		}
	}))
	mux.HandleFunc("POST "+item+"/challenge", locked(func(w http.ResponseWriter, _ *http.Request) {
		f.nonce = make([]byte, evidence.AckChallengeSize)
		rand.Read(f.nonce)
		json.NewEncoder(w).Encode(map[string]any{"challenge": hex.EncodeToString(f.nonce), "expires_at": time.Now().Add(time.Minute)})
	}))
	mux.HandleFunc("POST "+item+"/ack", locked(func(w http.ResponseWriter, r *http.Request) { f.ack(w, r) }))
	mux.HandleFunc("GET /api/v1/central/log/checkpoint", locked(func(w http.ResponseWriter, _ *http.Request) {
		if f.log == f.other {
			f.forkShown++
		}
		w.Write(f.log.checkpoint(f.logSigner))
	}))
	mux.HandleFunc("GET /api/v1/central/log/consistency", locked(func(w http.ResponseWriter, r *http.Request) {
		older, _ := strconv.ParseInt(r.URL.Query().Get("old"), 10, 64)
		newer, _ := strconv.ParseInt(r.URL.Query().Get("new"), 10, 64)
		proof, err := f.log.consistency(older, newer)
		if err != nil || (f.unprovable && len(f.cosigned) > 0) {
			http.Error(w, `{"error":"no such proof"}`, http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"old": older, "new": newer, "proof": custodylog.EncodeHashes(proof)})
	}))
	mux.HandleFunc("POST /api/v1/central/log/cosignature", locked(func(w http.ResponseWriter, r *http.Request) {
		if f.cosignStatus != http.StatusOK {
			http.Error(w, `{"error":"no witness of that name is pinned here"}`, f.cosignStatus)
			return
		}
		body, _ := io.ReadAll(r.Body)
		f.cosigned = append(f.cosigned, body)
		switch {
		case f.forkAfterCosign && f.log != f.other:
			f.log, f.proving = f.other, f.other
		case f.unprovable:
			f.log.append(evidence.CustodyEvent{Actor: "user:admin", Action: evidence.ActionLogin})
		}
		w.Write([]byte(`{}`))
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// ack checks the proof of possession (evidence.AckProof over the nonce and
// the true bytes) and answers a signed envelope receipt naming what it was
// given.
func (f *faultyStation) ack(w http.ResponseWriter, r *http.Request) {
	var ack struct {
		Challenge      string `json:"challenge"`
		Proof          string `json:"proof"`
		ManifestSHA256 string `json:"manifest_sha256"`
	}
	if json.NewDecoder(r.Body).Decode(&ack) != nil {
		http.Error(w, `{"error":"unreadable ack"}`, http.StatusBadRequest)
		return
	}
	want, _ := evidence.AckProof(f.nonce, bytes.NewReader(f.body))
	manifest, err := evidence.ParseDigest(ack.ManifestSHA256)
	if ack.Challenge != hex.EncodeToString(f.nonce) || ack.Proof != want.String() || err != nil {
		http.Error(w, `{"error":"proof of possession does not verify"}`, http.StatusConflict)
		return
	}
	if f.strict && !f.servedWhole {
		http.Error(w, `{"error":"hq downloaded 0 bytes of this item here"}`, http.StatusConflict)
		return
	}
	if f.ackStatus != http.StatusOK {
		http.Error(w, `{"error":"refused"}`, f.ackStatus)
		return
	}
	if f.lyingReceipt {
		manifest = evidence.DigestBytes([]byte("another manifest"))
	}
	sr, _ := evidence.SignReceipt(f.signer, evidence.Receipt{Digest: f.item.Digest, Time: time.Now().UTC(), Seq: uint64(f.log.size()) + 1,
		Appliance: evidence.KeyID(f.signer.Public().(ed25519.PublicKey)), Central: "hq", Manifest: manifest, Proof: want})
	w.Write(sr)
}

// TestRefusedItemsRaiseAlarms: against both S3 implementations, every fault
// a station can show is refused with the alarm that names it and nothing
// stored that should not be; the good station's item is stored,
// acknowledged, its checkpoint co-signed, and it verifies from S3 alone.
func TestRefusedItemsRaiseAlarms(t *testing.T) {
	for _, srv := range testkit.S3Servers(t) {
		t.Run(srv.Name, func(t *testing.T) { refusals(t, srv.Conn) })
	}
}

type outcome struct {
	status string // "" : central never recorded the item
	alarm  string
}

func refusals(t *testing.T, conn testkit.S3Conn) {
	stations := map[string]*faultyStation{}
	for _, id := range []string{"good", "forged", "forged-log", "corrupt", "refuses", "lies", "v1", "unpinned", "proves-stored", "stored-strict"} {
		stations[id] = newFaultyStation(t)
	}
	_, stations["forged"].signer, _ = ed25519.GenerateKey(rand.Reader)
	_, stations["forged-log"].logSigner, _ = ed25519.GenerateKey(rand.Reader)
	stations["corrupt"].served = append([]byte("X"), stations["corrupt"].body[1:]...)
	stations["refuses"].ackStatus = http.StatusConflict
	stations["lies"].lyingReceipt = true
	stations["v1"].v1 = true
	stations["unpinned"].cosignStatus = http.StatusBadRequest
	stations["stored-strict"].strict = true
	want := map[string]outcome{
		"good": {store.StatusAcked, ""}, "forged": {store.StatusFailed, store.AlarmSignature},
		"forged-log": {"", store.AlarmSignature}, "corrupt": {store.StatusFailed, store.AlarmDigest},
		"refuses": {store.StatusStored, store.AlarmReceipt}, "lies": {store.StatusFailed, store.AlarmSignature},
		"v1": {store.StatusFailed, store.AlarmSignature}, "unpinned": {store.StatusAcked, store.AlarmCosignature},
		// The item is in central storage before the worker starts, so
		// nothing streams: the proof is computed over the stored copy.
		"proves-stored": {store.StatusAcked, ""},
		// The same, from a station that takes an ack only from a client it
		// served every byte to: central reads the item from it once.
		"stored-strict": {store.StatusAcked, ""},
	}
	cfg := faultConfig(t, conn, stations)
	for _, id := range []string{"proves-stored", "stored-strict"} {
		pre, err := cfg.Storage.target(target.Prefixed(id), nil, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		ps := stations[id]
		if _, err := pre.PutStream(context.Background(), s3.Stream{Digest: ps.item.Digest, Size: ps.item.Size, Manifest: ps.manifest(),
			Open: func(context.Context, int64) (io.ReadCloser, error) {
				return io.NopCloser(bytes.NewReader(ps.body)), nil
			}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	svc, stop := startService(t, cfg)
	defer stop()
	waitOutcomes(t, svc, want)
	stop()

	for id, st := range stations {
		tg, err := cfg.Storage.target(target.Prefixed(id), nil, svc.log)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = tg.Open(context.Background(), st.item.Digest)
		stored := err == nil
		if wantStored := want[id].status == store.StatusStored || want[id].status == store.StatusAcked || id == "lies"; stored != wantStored || (err != nil && !errors.Is(err, s3.ErrNotFound)) {
			t.Errorf("%s: stored %v (%v), want %v", id, stored, err, wantStored)
		}
	}
	rep, err := Verify(context.Background(), cfg, "good", stations["good"].item.Digest)
	if err != nil || rep.Witnessed == nil || rep.Checkpoint == 0 {
		t.Fatalf("verify the good station's item from S3: %+v %v", rep, err)
	}
	checkCosigned(t, cfg, stations["good"])
	replacedDocumentsFail(t, cfg, "good", "proves-stored", stations["good"].item.Digest, stations["proves-stored"].item.Digest)
	if _, err := Verify(context.Background(), cfg, "refuses", stations["refuses"].item.Digest); err == nil {
		t.Error("an item without a receipt verifies")
	}
}

// replacedDocumentsFail: each document kept beside an item (manifest,
// witness record, receipt), replaced in central storage by a newer version
// holding another station's genuine one, makes central verify fail from S3
// alone; put back, the item verifies again.
func replacedDocumentsFail(t *testing.T, cfg Config, id, other string, d, otherDigest evidence.Digest) {
	t.Helper()
	ctx := context.Background()
	tg, err := cfg.Storage.target(target.Prefixed(id), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	og, err := cfg.Storage.target(target.Prefixed(other), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range []struct {
		name    string
		key     func(*s3.Target, evidence.Digest) string
		finding string
	}{
		{"manifest", func(t *s3.Target, d evidence.Digest) string { return t.ManifestKey(d) }, "signature"},
		{"witness record", WitnessKey, "witness"},
		{"receipt", ReceiptKey, "receipt"},
	} {
		key := doc.key(tg, d)
		genuine, err := tg.GetDocument(ctx, key, 64<<20)
		if err != nil {
			t.Fatalf("%s: %v", doc.name, err)
		}
		foreign, err := og.GetDocument(ctx, doc.key(og, otherDigest), 64<<20)
		if err != nil {
			t.Fatalf("%s of %s: %v", doc.name, other, err)
		}
		if err := tg.PutDocument(ctx, key, foreign, d); err != nil {
			t.Fatal(err)
		}
		_, verr := Verify(ctx, cfg, id, d)
		if err := tg.PutDocument(ctx, key, genuine, d); err != nil {
			t.Fatal(err)
		}
		if !errors.Is(verr, ErrVerify) {
			t.Errorf("%s replaced by %s's: verify says %v, want a finding", doc.name, other, verr)
		} else {
			t.Logf("%s replaced: %v", doc.name, verr)
		}
		if _, err := Verify(ctx, cfg, id, d); err != nil {
			t.Errorf("the genuine %s put back: %v", doc.name, err)
		}
	}
}

// checkCosigned: the station was given central's cosignature of its
// checkpoint, checkable with the key `central witness-key` prints.
func checkCosigned(t *testing.T, cfg Config, st *faultyStation) {
	t.Helper()
	w, err := OpenWitness(cfg.Witness)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := custodylog.WitnessVerifier(w.VerifierKey())
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.cosigned) == 0 {
		t.Fatal("central posted no cosignature to the station")
	}
	c, sigs, err := custodylog.Cosignatures(st.cosigned[len(st.cosigned)-1], st.key.Public().(ed25519.PublicKey), v)
	if err != nil || len(sigs) != 1 || sigs[0].Witness != cfg.Witness.Name || c.Size != st.log.size() {
		t.Fatalf("posted cosignature: checkpoint %d of %d events, %+v, %v", c.Size, st.log.size(), sigs, err)
	}
}

func faultConfig(t *testing.T, conn testkit.S3Conn, stations map[string]*faultyStation) Config {
	cfg := Config{WorkerID: "w1", LeaseTTL: 3 * time.Second, PollInterval: 200 * time.Millisecond, SilentAfter: time.Hour,
		Storage: Storage{Endpoint: conn.Endpoint, Region: conn.Region, Bucket: testkit.NewBucket(t, conn, true),
			AccessKey: conn.AccessKey, SecretKey: conn.SecretKey, Retention: time.Hour},
		Witness: WitnessConfig{Name: "central-test", KeyFile: filepath.Join(t.TempDir(), "witness.key")}}
	cfg.Database.DSN = pgtest.NewDatabase(t)
	cfg.HTTP.Addr = "127.0.0.1:0"
	for id, st := range stations {
		t.Setenv("TOKEN_"+strings.ToUpper(strings.ReplaceAll(id, "-", "_")), "et_token")
		cfg.Stations = append(cfg.Stations, Station{ID: id, URL: st.serve(t).URL, TokenEnv: "TOKEN_" + strings.ToUpper(strings.ReplaceAll(id, "-", "_")),
			PublicKey: hex.EncodeToString(st.key.Public().(ed25519.PublicKey))})
	}
	if err := cfg.fill(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startService runs one worker; stop ends it and waits (idempotent).
func startService(t *testing.T, cfg Config) (*Service, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.RunWorker(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
			svc.Close()
		})
	}
	t.Cleanup(stop)
	return svc, stop
}

// waitOutcomes waits until every station's item has the status and the
// station the open alarm want names.
func waitOutcomes(t *testing.T, svc *Service, want map[string]outcome) {
	t.Helper()
	ctx := context.Background()
	var got map[string]outcome
	testkit.WaitFor(t, "every station's outcome", 30*time.Second, func() bool {
		got = map[string]outcome{}
		items, err := svc.store.Items(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			got[it.Station] = outcome{status: it.Status}
		}
		alarms, _ := svc.store.Alarms(ctx, "", true)
		for _, a := range alarms {
			o := got[a.Station]
			o.alarm = a.Kind
			got[a.Station] = o
		}
		for id, w := range want {
			if got[id] != w {
				return false
			}
		}
		return true
	})
	t.Logf("outcomes: %v", got)
}

// TestForkStopsPulling: a station that shows central a history that does
// not extend the checkpoint central co-signed (a fork under the same key),
// whether in its newest checkpoint, in an item's manifest, or by failing to
// prove consistency, raises the fork alarm with both signed checkpoints and
// central pulls nothing more from it. Once an admin clears the alarm, the
// witness starts afresh on the station's history and the item is pulled.
func TestForkStopsPulling(t *testing.T) {
	stations := map[string]*faultyStation{"fork": newFaultyStation(t), "manifest-fork": newFaultyStation(t), "unprovable": newFaultyStation(t)}
	stations["fork"].forkAfterCosign = true
	stations["fork"].other = stations["fork"].forkedHistory()
	// Its log serves a longer history than the one its manifests prove the
	// item in: the co-signed tree does not extend the manifest's.
	mf := stations["manifest-fork"]
	mf.proving = mf.forkedHistory()
	mf.log.append(evidence.CustodyEvent{Actor: "user:admin", Action: evidence.ActionLogin})
	mf.log.append(evidence.CustodyEvent{Actor: "user:admin", Action: evidence.ActionLogin})
	stations["unprovable"].unprovable = true
	cfg := faultConfig(t, testkit.S3(t), stations)
	svc, _ := startService(t, cfg)
	waitOutcomes(t, svc, map[string]outcome{"fork": {"", store.AlarmFork}, "manifest-fork": {store.StatusPending, store.AlarmFork},
		"unprovable": {store.StatusPending, store.AlarmFork}})

	ctx := context.Background()
	alarms, err := svc.store.Alarms(ctx, "", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range alarms {
		st := stations[a.Station]
		if a.Evidence == nil {
			t.Fatalf("%s: fork alarm without evidence: %+v", a.Station, a)
		}
		earlier, _, err1 := custodylog.Open([]byte(a.Evidence.Earlier), st.key.Public().(ed25519.PublicKey))
		later, _, err2 := custodylog.Open([]byte(a.Evidence.Later), st.key.Public().(ed25519.PublicKey))
		if err := errors.Join(err1, err2); err != nil || earlier == later {
			t.Errorf("%s: evidence is not two checkpoints signed by the station's key: %v", a.Station, err)
		}
		t.Logf("%s: %s (co-signed %d events, then %d)", a.Station, a.Detail, earlier.Size, later.Size)
	}
	// Central keeps off the forked stations: nothing more is asked of them
	// but their checkpoint.
	for id, st := range stations {
		tg, _ := cfg.Storage.target(target.Prefixed(id), nil, svc.log)
		if _, _, err := tg.Open(ctx, st.item.Digest); !errors.Is(err, s3.ErrNotFound) {
			t.Errorf("%s: the item was stored from a forked station (%v)", id, err)
		}
	}

	if ok, err := svc.store.Clear(ctx, "fork", store.AlarmFork, "admin:jo"); !ok || err != nil {
		t.Fatalf("clear: %v %v", ok, err)
	}
	waitOutcomes(t, svc, map[string]outcome{"fork": {store.StatusAcked, ""}})
	if old, ok, _ := svc.store.Cosigned(ctx, "fork", 0); !ok || old.Superseded {
		t.Fatalf("after the fork was cleared central co-signs the station's history afresh: %+v %v", old, ok)
	}
}

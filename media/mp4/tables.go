package mp4

import (
	"errors"
	"fmt"
	"io"

	gomp4 "github.com/abema/go-mp4"
)

// sampleTables are the stbl boxes a sample table is built from.
type sampleTables struct {
	stsz gomp4.Stsz
	stsc gomp4.Stsc
	stts gomp4.Stts
	ctts *gomp4.Ctts
	stss *gomp4.Stss
	// chunks are the chunk offsets, from stco or co64.
	chunks []int64
}

// readSampleTables expands stbl's tables into one Sample per access unit.
// A track with no samples there (stsz counts none) is fragmented; its
// samples come from the moofs.
func (tr *Track) readSampleTables(r io.ReaderAt, stbl box, b *budget) error {
	t, err := readTables(r, stbl)
	if err != nil {
		return err
	}
	n := int(t.stsz.SampleCount)
	if n == 0 {
		return nil
	}
	if err := tr.sizeSamples(t.stsz, b); err != nil {
		return err
	}
	if err := tr.placeSamples(t.stsc, t.chunks, b); err != nil {
		return err
	}
	if err := tr.timeSamples(t.stts, t.ctts); err != nil {
		return err
	}
	tr.markSync(t.stss)
	return nil
}

func readTables(r io.ReaderAt, stbl box) (sampleTables, error) {
	var t sampleTables
	found := map[string]bool{}
	for _, b := range boxes(r, stbl.start, stbl.end) {
		var err error
		switch b.typ {
		case "stsz":
			err = decode(r, b, &t.stsz)
		case "stsc":
			err = decode(r, b, &t.stsc)
		case "stts":
			err = decode(r, b, &t.stts)
		case "ctts":
			t.ctts = &gomp4.Ctts{}
			err = decode(r, b, t.ctts)
		case "stss":
			t.stss = &gomp4.Stss{}
			err = decode(r, b, t.stss)
		case "stco":
			var stco gomp4.Stco
			if err = decode(r, b, &stco); err == nil {
				t.chunks = make([]int64, len(stco.ChunkOffset))
				for i, o := range stco.ChunkOffset {
					t.chunks[i] = int64(o)
				}
			}
		case "co64":
			var co64 gomp4.Co64
			if err = decode(r, b, &co64); err == nil {
				t.chunks = make([]int64, len(co64.ChunkOffset))
				for i, o := range co64.ChunkOffset {
					t.chunks[i] = int64(min(o, 1<<62))
				}
			}
		default:
			continue
		}
		if err != nil {
			return t, err
		}
		found[b.typ] = true
	}
	if !found["stsz"] || !found["stts"] {
		return t, errors.New("sample tables missing (stsz, stts)")
	}
	return t, nil
}

// sizeSamples makes the table, one entry per sample stsz counts, once the
// budget admits their bytes.
func (tr *Track) sizeSamples(stsz gomp4.Stsz, b *budget) error {
	n := int64(stsz.SampleCount)
	var total int64
	if stsz.SampleSize != 0 {
		total = n * int64(stsz.SampleSize)
	} else {
		if int64(len(stsz.EntrySize)) != n {
			return fmt.Errorf("stsz: %d sizes for %d samples", len(stsz.EntrySize), n)
		}
		for _, s := range stsz.EntrySize {
			total += int64(s)
		}
	}
	if n > MaxSamples {
		return fmt.Errorf("%w: stsz counts %d samples", ErrBeyondFile, n)
	}
	if err := b.take(int(n), total); err != nil {
		return fmt.Errorf("stsz: %w", err)
	}
	tr.Samples = make([]Sample, n)
	for i := range tr.Samples {
		tr.Samples[i].Size = stsz.SampleSize
		if stsz.SampleSize == 0 {
			tr.Samples[i].Size = stsz.EntrySize[i]
		}
	}
	return nil
}

// placeSamples gives each sample its offset: stsc says how many samples
// each run of chunks holds, the chunk offsets where each chunk starts.
func (tr *Track) placeSamples(stsc gomp4.Stsc, chunks []int64, b *budget) error {
	if len(chunks) == 0 {
		return errors.New("no chunk offsets (stco, co64)")
	}
	entries := stsc.Entries
	if len(entries) == 0 {
		return errors.New("stsc has no entries")
	}
	k := 0
	for e, entry := range entries {
		first, last := int(entry.FirstChunk)-1, len(chunks)
		if e+1 < len(entries) {
			last = int(entries[e+1].FirstChunk) - 1
		}
		if first < 0 || last > len(chunks) || first > last || entry.SamplesPerChunk == 0 {
			return fmt.Errorf("stsc entry %d out of range", e)
		}
		for c := first; c < last && k < len(tr.Samples); c++ {
			off := chunks[c]
			for j := uint32(0); j < entry.SamplesPerChunk && k < len(tr.Samples); j++ {
				tr.Samples[k].Offset = off
				if err := b.place(k, tr.Samples[k]); err != nil {
					return err
				}
				off += int64(tr.Samples[k].Size)
				k++
			}
		}
	}
	if k != len(tr.Samples) {
		return fmt.Errorf("stsc places %d of %d samples", k, len(tr.Samples))
	}
	return nil
}

// timeSamples gives each sample its decode time and duration (stts) and
// its composition offset (ctts, signed in practice whatever its version).
func (tr *Track) timeSamples(stts gomp4.Stts, ctts *gomp4.Ctts) error {
	k, dts := 0, int64(0)
	for _, e := range stts.Entries {
		for j := uint32(0); j < e.SampleCount && k < len(tr.Samples); j++ {
			tr.Samples[k].DTS, tr.Samples[k].Duration = dts, e.SampleDelta
			dts += int64(e.SampleDelta)
			k++
		}
	}
	if k != len(tr.Samples) {
		return fmt.Errorf("stts times %d of %d samples", k, len(tr.Samples))
	}
	if ctts == nil {
		return nil
	}
	k = 0
	for _, e := range ctts.Entries {
		// Signed in version 1, and in practice in version 0 too.
		off := int32(e.SampleOffsetV0)
		if ctts.GetVersion() == 1 {
			off = e.SampleOffsetV1
		}
		for j := uint32(0); j < e.SampleCount && k < len(tr.Samples); j++ {
			tr.Samples[k].PTSOffset = off
			k++
		}
	}
	return nil
}

// markSync marks the sync samples stss lists; without stss every sample is
// one.
func (tr *Track) markSync(stss *gomp4.Stss) {
	if stss == nil {
		for i := range tr.Samples {
			tr.Samples[i].Sync = true
		}
		return
	}
	for _, n := range stss.SampleNumber {
		if k := int(n) - 1; k >= 0 && k < len(tr.Samples) {
			tr.Samples[k].Sync = true
		}
	}
}

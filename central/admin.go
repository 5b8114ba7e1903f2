package central

import (
	"context"
	"fmt"

	"github.com/edgetriage/edgetriage/central/store"
)

// What an admin does from the command line, against the same database the
// workers share.

// CosignedCheckpoint is central's copy of a station's checkpoint it
// co-signed (size 0: the newest), with central's cosignature line: what
// `edgetriage verify --cosigned` takes on the station.
func CosignedCheckpoint(ctx context.Context, cfg Config, stationID string, size int64) ([]byte, error) {
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	c, ok, err := st.Cosigned(ctx, stationID, size)
	if err != nil {
		return nil, err
	}
	if !ok {
		if size > 0 {
			return nil, fmt.Errorf("central co-signed no checkpoint of %d events of station %s", size, stationID)
		}
		return nil, fmt.Errorf("central co-signed no checkpoint of station %s yet", stationID)
	}
	return []byte(c.CosignedNote), nil
}

// ClearAlarm closes the station's open alarm of kind, on record as
// cleared by by. Clearing a fork re-bases the witness: the station's
// history is witnessed afresh and pulling resumes.
func ClearAlarm(ctx context.Context, cfg Config, stationID, kind, by string) error {
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	ok, err := st.Clear(ctx, stationID, kind, by)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("station %s has no open %s alarm", stationID, kind)
	}
	return nil
}

func openStore(ctx context.Context, cfg Config) (*store.Store, error) {
	st, err := store.Open(ctx, cfg.Database.DSN)
	if err != nil {
		return nil, err
	}
	if _, err := st.Migrate(ctx, 0); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

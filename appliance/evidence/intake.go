package evidence

import "time"

// Intake describes bytes being handed to the vault: everything the record
// should say about them that the bytes themselves cannot tell. Capture and
// triage packages fill it in; the vault adds digest, size, media and times.
type Intake struct {
	Actor         Actor
	Kind          Kind // empty: guessed from the file name
	Source        string
	Officer       string
	OriginalName  string
	CapturedStart time.Time
	CapturedEnd   time.Time
	Parent        Digest
	Relation      string
	Labels        map[string]string
	Problems      []Problem
	// Details are added to the custody event that records the intake.
	Details map[string]string
}

package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/hardware"
)

// AlarmRecorder turns health alarms into custody events, so a station's
// record shows when the appliance ran hot or full, and when that ended.
type AlarmRecorder struct {
	vault *vault.Vault
	log   *slog.Logger
}

// NewAlarmRecorder records health alarms in v's custody chain.
func NewAlarmRecorder(v *vault.Vault, log *slog.Logger) AlarmRecorder {
	return AlarmRecorder{vault: v, log: log}
}

func (a AlarmRecorder) AlarmChanged(ctx context.Context, al hardware.Alarm) error {
	state := "raised"
	if !al.Active {
		state = "cleared"
	}
	a.log.Warn("health alarm "+state, "alarm", al.Name, "value", al.Value, "threshold", al.Threshold, "message", al.Message)
	_, err := a.vault.Append(ctx, evidence.CustodyEvent{Actor: "appliance:health", Action: evidence.ActionAlarm,
		Details: map[string]string{"alarm": al.Name, "state": state, "message": al.Message,
			"value": strconv.FormatFloat(al.Value, 'f', 2, 64), "threshold": strconv.FormatFloat(al.Threshold, 'f', 2, 64)}})
	if err != nil {
		return fmt.Errorf("record alarm %s: %w", al.Name, err)
	}
	return nil
}

// Package hardware watches the appliance itself: CPU, memory, load, the
// vault's disk (space and I/O), temperatures, uptime and network, with
// alarms that rise and clear with hysteresis; and it keeps the inventory of
// which camera sits in which dock bay.
//
// Everything is read through gopsutil. Nothing here writes custody events:
// alarm changes go to an AlarmSink the daemon provides, which records them.
package hardware

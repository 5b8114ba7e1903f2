package hardware_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/edgetriage/edgetriage/hardware"
)

func TestInventory(t *testing.T) {
	inv := hardware.NewInventory(nil, "bay-1", "bay-2", "bay-3")
	inv.Dock("bay-2", "BWC-1", "BWC-200", "2.0.0", 80)
	if b, ok := inv.Find("BWC-1"); !ok || b.Bay != "bay-2" || b.Battery != 80 || b.DockedAt.IsZero() {
		t.Fatalf("find %+v %v", b, ok)
	}
	if !inv.SetBattery("bay-2", 85) || inv.SetBattery("bay-1", 50) {
		t.Fatal("SetBattery on an occupied / empty bay")
	}
	// Moved to another bay without the dock seeing it leave.
	inv.Dock("bay-3", "BWC-1", "BWC-200", "2.0.0", 85)
	snap := inv.Snapshot()
	if len(snap) != 3 || snap[0].Bay != "bay-1" || snap[1].Occupied() || snap[2].Serial != "BWC-1" || snap[1].Battery != -1 {
		t.Fatalf("snapshot %+v", snap)
	}
	if b, ok := inv.Undock("bay-3"); !ok || b.Serial != "BWC-1" {
		t.Fatalf("undock %+v %v", b, ok)
	}
	if _, ok := inv.Undock("bay-3"); ok {
		t.Fatal("undock of an empty bay")
	}
	if _, ok := inv.Find("BWC-1"); ok {
		t.Fatal("undocked camera still found")
	}
}

// Bays dock and undock from their own goroutines; run with -race.
func TestInventoryConcurrent(t *testing.T) {
	inv := hardware.NewInventory(nil)
	var wg sync.WaitGroup
	for b := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bay := fmt.Sprint("bay-", b)
			for i := range 200 {
				inv.Dock(bay, fmt.Sprintf("cam-%d-%d", b, i), "BWC-200", "2.0.0", i%100)
				inv.SetBattery(bay, 50)
				_ = inv.Snapshot()
				if i%2 == 0 {
					inv.Undock(bay)
				}
			}
		}()
	}
	wg.Wait()
	snap := inv.Snapshot()
	if len(snap) != 8 {
		t.Fatalf("%d bays", len(snap))
	}
	for _, b := range snap {
		if b.Serial != fmt.Sprintf("cam-%s-199", b.Bay[len("bay-"):]) {
			t.Errorf("bay %s holds %q, want its last camera", b.Bay, b.Serial)
		}
	}
}

package an0044

import "context"

// startVSphere starts a poller per vsphere[] entry.
func startVSphere(ctx context.Context, a *Analytic, lv *liveRun) error { return nil }

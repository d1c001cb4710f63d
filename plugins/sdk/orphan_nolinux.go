//go:build unix && !linux

package sdk

func setParentDeathSignal() {}

//go:build linux

package registry

// localPlatform is the platform whose endpoint analytic this build runs live.
const localPlatform = "linux"

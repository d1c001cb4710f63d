//go:build darwin

package registry

// localPlatform is the platform whose endpoint analytic this build runs live.
const localPlatform = "darwin"

//go:build windows

package registry

// localPlatform is the platform whose endpoint analytic this build runs live.
const localPlatform = "windows"

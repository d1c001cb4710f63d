//go:build !linux && !windows && !darwin

package registry

// localPlatform is empty where no endpoint analytic runs live: such a build
// serves the remote analytics and replays.
const localPlatform = ""

package eval

import (
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// setupScript generates the world the stories run in (setup.sh says what).
//
//go:embed setup.sh
var setupScript string

// Base is the suite's work directory, EVAL in the stories. A fixed path
// keeps the argv in the recorded fixtures the same across recordings.
const Base = "/srv/stagewatch-eval"

// LoginUser is the login user the user stories run as.
const LoginUser = "sweval"

// HTTPAddr is where the local web server listens (fixed for the same
// reason as Base; another free port is taken if it is busy).
const HTTPAddr = "127.0.0.1:18041"

// World is the prepared machine: the login user, the work directory and
// the web server the stories download from.
type World struct {
	Base   string
	User   *user.User
	UID    int
	GID    int
	HTTP   string // base URL of the web server
	server *http.Server
	// forks, when set, is told the first process of each story.
	forks *Forks
}

// Prepare generates the fixtures (setup.sh), removes what earlier runs
// left and starts the web server. Close undoes what can be undone.
func Prepare() (*World, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the evaluation needs root: it creates a login user, mounts a volume and installs packages")
	}
	w := &World{Base: Base}
	w.removeLeaves()
	cmd := exec.Command("bash", "-c", setupScript, "setup.sh", Base, LoginUser)
	cmd.Env = storyPath(os.Environ())
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("setup: %v\n%s", err, out)
	}
	u, err := user.Lookup(LoginUser)
	if err != nil {
		return nil, err
	}
	w.User = u
	w.UID, _ = strconv.Atoi(u.Uid)
	w.GID, _ = strconv.Atoi(u.Gid)

	ln, err := net.Listen("tcp", HTTPAddr)
	if err != nil {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
	}
	w.HTTP = "http://" + ln.Addr().String()
	w.server = &http.Server{Handler: http.FileServer(http.Dir(filepath.Join(Base, "www"))), ReadHeaderTimeout: 10 * time.Second}
	go w.server.Serve(ln)
	return w, nil
}

// Close stops the web server and removes what the stories left.
func (w *World) Close() {
	if w.server != nil {
		w.server.Close()
	}
	w.removeLeaves()
	os.Remove("/etc/sudoers.d/stagewatch-eval")
}

// removeLeaves removes what every story leaves behind, so a run starts
// from the same state as the last.
func (w *World) removeLeaves() {
	for _, s := range Stories {
		for _, glob := range s.Leaves {
			matches, _ := filepath.Glob(glob)
			for _, m := range matches {
				os.RemoveAll(m)
			}
		}
	}
	os.RemoveAll(filepath.Join(Base, "run"))
	// The background story, run as the login user, says through it when
	// it has copied.
	os.MkdirAll(filepath.Join(Base, "run"), 0o755)
	os.Chmod(filepath.Join(Base, "run"), 0o1777)
}

// storyPath gives the stories a PATH of the system's tools and Go, and
// none of the invoking user's shims (a pyenv shim is a bash script, not
// the python a service runs).
func storyPath(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "PATH=") {
			out = append(out, kv)
		}
	}
	return append(out, "PATH="+systemPath)
}

const systemPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/go/bin"

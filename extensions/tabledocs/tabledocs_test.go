package tabledocs

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stagewatch/stagewatch/extensions/tablewrap"
)

func TestTablesDocInSync(t *testing.T) {
	t.Parallel()
	got, err := os.ReadFile(filepath.Join("..", "..", Path))
	if err != nil {
		t.Fatalf("%v (run go run ./extensions/cmd/gendocs)", err)
	}
	if want := Render(Tables()); !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date with the registered table specs (run go run ./extensions/cmd/gendocs)", Path)
	}
}

// Every column of every table is documented with its type, and the names
// all carry the staging_ prefix osqueryd will see.
func TestEveryColumnDocumented(t *testing.T) {
	t.Parallel()
	doc := string(Render(Tables()))
	for _, tbl := range Tables() {
		if !strings.HasPrefix(tbl.Name, tablewrap.TablePrefix) {
			t.Errorf("table %s lacks the %s prefix", tbl.Name, tablewrap.TablePrefix)
		}
		spec := tablewrap.Spec(tbl)
		for _, c := range spec.Columns {
			if c.Description == "" {
				t.Errorf("%s.%s has no description", tbl.Name, c.Name)
			}
			row := "| `" + c.Name + "` | " + string(c.Type) + " |"
			if !strings.Contains(doc, row) {
				t.Errorf("docs lack %s.%s row %q", tbl.Name, c.Name, row)
			}
		}
	}
}

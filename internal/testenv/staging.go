package testenv

import (
	"archive/zip"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Documents makes five real documents in a fresh directory outside every
// staging directory (under /var/lib), removed when the test ends: an OOXML
// document (a zip with its parts), a PDF, a CSV of 500 rows, a PEM private
// key and notes. Copied into a staging directory they are what an attacker
// gathers: four documents and a key.
func Documents(t testing.TB) string {
	t.Helper()
	src, err := os.MkdirTemp("/var/lib", "stagewatch-docs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(src) })
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var docx strings.Builder
	zw := zip.NewWriter(&docx)
	for _, part := range [][2]string{
		{"[Content_Types].xml", `<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>`},
		{"word/document.xml", `<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Q3 board report</w:t></w:r></w:p></w:body></w:document>`},
	} {
		w, err := zw.Create(part[0])
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(part[1]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	write("q3 board report.docx", docx.String())
	write("merger-terms.pdf", "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
	var csv strings.Builder
	csv.WriteString("employee,salary\n")
	for i := range 500 {
		fmt.Fprintf(&csv, "employee-%03d,%d\n", i, 50000+i*37)
	}
	write("salaries.csv", csv.String())
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write("deploy-key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	write("notes.txt", "vpn: 10.0.0.1\n")
	return src
}

// StagingDir makes a fresh directory in /tmp named prefix…, removed with
// the archive beside it (DIR.tgz) when the test ends.
func StagingDir(t testing.TB, prefix string) string {
	t.Helper()
	stage, err := os.MkdirTemp("/tmp", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(stage); os.Remove(stage + ".tgz") })
	return stage
}

// Sh runs a shell command line as an operator at a terminal would, so the
// copy tools and archivers it starts have a shell for a parent.
func Sh(t testing.TB, script string) {
	t.Helper()
	out, err := exec.Command("sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
}

package view

import "strings"

// techniqueNames are the ATT&CK names of the techniques staging
// detections carry (ATT&CK Enterprise v17).
var techniqueNames = map[string]string{
	"T1074":     "Data Staged",
	"T1074.001": "Local Data Staging",
	"T1074.002": "Remote Data Staging",
	"T1560":     "Archive Collected Data",
	"T1560.001": "Archive via Utility",
	"T1560.002": "Archive via Library",
	"T1560.003": "Archive via Custom Method",
	"T1119":     "Automated Collection",
	"T1005":     "Data from Local System",
	"T1039":     "Data from Network Shared Drive",
	"T1530":     "Data from Cloud Storage",
	"T1537":     "Transfer Data to Cloud Account",
	"T1578":     "Modify Cloud Compute Infrastructure",
	"T1578.001": "Create Snapshot",
	"T1578.005": "Modify Cloud Compute Configurations",
	"T1059":     "Command and Scripting Interpreter",
	"T1059.012": "Hypervisor CLI",
	"T1021":     "Remote Services",
	"T1021.004": "SSH",
}

// techniqueTactics are the tactics each technique serves.
var techniqueTactics = map[string][]string{
	"T1074": {"TA0009"}, "T1560": {"TA0009"}, "T1119": {"TA0009"}, "T1005": {"TA0009"},
	"T1039": {"TA0009"}, "T1530": {"TA0009"}, "T1537": {"TA0010"}, "T1578": {"TA0005"},
	"T1059": {"TA0002"}, "T1021": {"TA0008"},
}

var tacticNames = map[string]string{"TA0009": "Collection", "TA0010": "Exfiltration", "TA0005": "Defense Evasion",
	"TA0002": "Execution", "TA0008": "Lateral Movement"}

// TechniqueName is a technique's ATT&CK name, or "" for an id this build
// does not know.
func TechniqueName(id string) string { return techniqueNames[id] }

// parentTechnique is T1560 for T1560.001, the id itself for a technique.
func parentTechnique(id string) string {
	if i := strings.IndexByte(id, '.'); i > 0 {
		return id[:i]
	}
	return id
}

// techniqueURL is the technique's page on attack.mitre.org.
func techniqueURL(id string) string {
	return "https://attack.mitre.org/techniques/" + strings.ReplaceAll(id, ".", "/") + "/"
}

// tactics are the tactics of a detection's techniques, in first-seen order.
func tactics(techniques []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range techniques {
		for _, ta := range techniqueTactics[parentTechnique(t)] {
			if !seen[ta] {
				seen[ta] = true
				out = append(out, ta)
			}
		}
	}
	return out
}

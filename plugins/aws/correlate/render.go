package correlate

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// render fills a detection's columns from what it has gathered.
func (c *Correlator) render(o *open) {
	d := &o.d
	score := o.base
	d.Actor = o.principal
	actor := d.Actor
	if o.instance != "" {
		actor += " (instance " + o.instance
		if o.tags != "" {
			actor += ", tags " + o.tags
		} else {
			actor += ", tags not resolved"
		}
		actor += ")"
	}
	names := slices.Sorted(maps.Keys(o.names))
	calls := make([]string, len(names))
	for i, n := range names {
		calls[i] = fmt.Sprintf("%s×%d", n, o.names[n])
	}
	d.Process = o.kind + ": " + strings.Join(calls, " ")
	window := c.cfg.Window.String()
	who := d.Actor
	if o.instance != "" {
		who = "instance " + o.instance + " (" + d.Actor + ")"
	}
	switch o.kind {
	case KindObjectBurst:
		d.StagingPath = "s3://" + o.bucket
		d.FileCount = o.objects
		if o.objects >= 10*max(c.cfg.ObjectThreshold, 1) {
			score += 5
		}
		where := ""
		if o.detail != "" {
			where = ", " + o.detail
		}
		d.Reason = fmt.Sprintf("%s wrote %d objects (%s) to s3://%s%s in %s, account %s, within %s: a burst over ObjectWriteThreshold; check what was copied there and whether this principal should write there.",
			who, o.objects, bytesText(d.Bytes), o.bucket, where, o.region, d.Host, window)
	case KindCredentialOutside:
		d.StagingPath = "s3://" + o.bucket
		d.FileCount = o.objects
		d.ArchivePath = ""
		ev := d.Evidence[0]
		d.Reason = fmt.Sprintf("Credentials of instance %s (%s) were used from %s, %s, for %d object calls (%s) on s3://%s in %s, account %s: the instance role's keys are likely stolen; revoke its sessions and check what was read or written.",
			o.instance, d.Actor, sourceOf(ev.Note), o.detail, total(o.names), bytesText(d.Bytes), o.bucket, o.region, d.Host)
	case KindVolumeExpansion, KindNewVolume:
		ev := d.Evidence[0]
		d.StagingPath = fmt.Sprintf("arn:aws:ec2:%s:%s:volume/%s", o.region, d.Host, ev.Path)
		d.FileCount, d.Bytes = o.writesAfter, o.bytesAfter
		target := "an instance not resolved"
		if o.instance != "" {
			target = "instance " + o.instance
		}
		then := ""
		if o.writesAfter > 0 || o.bytesAfter > 0 {
			score += 25
			then = fmt.Sprintf(", then the instance wrote %d objects (%s) within %s", o.writesAfter, bytesText(o.bytesAfter), window)
		}
		if o.kind == KindVolumeExpansion {
			d.Reason = fmt.Sprintf("Volume %s of %s was %s by %s in %s, account %s%s: room made on a volume for staging data; check what the instance gathers there.",
				ev.Path, target, o.detail, d.Actor, o.region, d.Host, then)
		} else {
			d.Reason = fmt.Sprintf("%s %s was created and attached to %s by %s in %s, account %s%s: a volume added to gather data on; check what the instance copies onto it.",
				capitalize(o.detail), ev.Path, target, d.Actor, o.region, d.Host, then)
		}
	case KindSnapshotBurst:
		d.FileCount = o.objects
		var ids []string
		for _, ev := range d.Evidence {
			ids = append(ids, ev.Path)
		}
		d.StagingPath = fmt.Sprintf("arn:aws:ec2:%s:%s:snapshot/%s", o.region, d.Host, ids[0])
		slices.Sort(ids)
		if o.objects >= 2*c.cfg.SnapshotThreshold {
			score += 10
		}
		d.Reason = fmt.Sprintf("%s made %d snapshots or images in %s, account %s, within %s (%s): data staged for copying out; check who they are shared with or copied to.",
			d.Actor, o.objects, o.region, d.Host, window, strings.Join(ids, ", "))
	case KindShare:
		ev := d.Evidence[0]
		what := "snapshot"
		switch {
		case strings.HasPrefix(ev.Path, "ami-"):
			what = "image"
		case strings.HasPrefix(ev.Kind, "ModifyDB"):
			what = "database snapshot"
		}
		d.StagingPath = ev.Path
		d.FileCount = 1
		d.Reason = fmt.Sprintf("%s shared %s %s %s in %s, account %s: whoever it is shared with can copy the data out; remove the permission unless the share is known.",
			d.Actor, what, ev.Path, o.detail, o.region, d.Host)
	}
	d.Actor = actor
	d.Score = min(score, 100)
	switch {
	case d.Score >= 75:
		d.Severity = "high"
	case d.Score >= 45:
		d.Severity = "medium"
	default:
		d.Severity = "low"
	}
}

// sourceOf takes "from ADDR[ via vpce]" out of an evidence note.
func sourceOf(note string) string {
	_, rest, ok := strings.Cut(note, "; from ")
	if !ok {
		return "an address"
	}
	addr, _, _ := strings.Cut(rest, ";")
	return addr
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// bytesText renders a byte count as a person reads it.
func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func total(names map[string]int64) int64 {
	var n int64
	for _, v := range names {
		n += v
	}
	return n
}

package cluster

import (
	"strings"
	"testing"
	"time"
)

func TestCronInterval(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		schedule string
		want     time.Duration
	}{
		{"*/15 * * * *", 15 * time.Minute},
		{"0 * * * *", time.Hour},
		{"@hourly", time.Hour},
		{"30 2 * * *", day},
		{"@daily", day},
		{"0 3 * * 0", 7 * day},
		{"0 3 * * sun", 7 * day},
		{"0 3 * * 7", 7 * day},
		{"0 9 * * 1-5", 3 * day},
		{"0 0,12 * * *", 12 * time.Hour},
		{"0 0 1 * *", 31 * day},
		{"0 0 1 */3 *", 92 * day},
		{"0 0 1 jan,jul *", 184 * day},
		{"@yearly", 366 * day},
		{"CRON_TZ=Europe/Berlin 0 3 * * 0", 7 * day},
		{"0 0 13 * 5", 7 * day}, // the 13th or any Friday: cron ORs the day fields
	} {
		got, err := CronInterval(tc.schedule)
		if err != nil || got != tc.want {
			t.Errorf("CronInterval(%q) = %v, %v; want %v", tc.schedule, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "* * * *", "61 * * * *", "* * * * mon-", "*/0 * * * *", "0 0 30 2 *"} {
		if _, err := CronInterval(bad); err == nil {
			t.Errorf("CronInterval(%q): no error", bad)
		}
	}
}

const candidateObjects = `apiVersion: v1
kind: Namespace
metadata: {name: batch, annotations: {linkerd.io/inject: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: plain}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: weekly-report, namespace: batch}
spec:
  schedule: "0 3 * * 0"
  jobTemplate:
    spec:
      template:
        spec: {serviceAccountName: reporter, containers: [{name: r, image: r}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reindexer, namespace: batch}
spec:
  replicas: 0
  selector: {matchLabels: {app: reindexer}}
  template:
    metadata: {labels: {app: reindexer}}
    spec: {containers: [{name: r, image: r}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: opted-out, namespace: batch}
spec:
  selector: {matchLabels: {app: o}}
  template:
    metadata: {labels: {app: o}, annotations: {linkerd.io/inject: disabled}}
    spec: {containers: [{name: o, image: o}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: unmeshed, namespace: plain}
spec:
  selector: {matchLabels: {app: u}}
  template:
    metadata: {labels: {app: u}}
    spec: {containers: [{name: u, image: u}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: restore, namespace: plain}
spec:
  template:
    metadata: {annotations: {linkerd.io/inject: enabled}}
    spec: {serviceAccountName: restore, containers: [{name: r, image: r}]}
`

func TestCandidates(t *testing.T) {
	objs, err := Read(strings.NewReader(candidateObjects))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range Candidates(objs, Options{}) {
		got = append(got, string(c.ID)+" "+c.Kind+" "+c.ServiceAccount+" "+c.Interval.String()+" "+map[bool]string{true: "zero", false: "-"}[c.ScaledToZero])
	}
	want := []string{
		"batch/reindexer Deployment default 0s zero",
		"batch/weekly-report CronJob reporter 168h0m0s -",
		"plain/restore Job restore 0s -",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("candidates:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

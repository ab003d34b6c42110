package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/steady-go/steady/examples/robust"
)

// TestBadFlags: each invalid input gives a one-line error naming the flag
// and the problem, the usage, exit status 2, and touches no file.
func TestBadFlags(t *testing.T) {
	dir := t.TempDir()
	notADir := filepath.Join(dir, "file")
	if err := os.WriteFile(notADir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ca := writeCA(t, filepath.Join(dir, "ca.pem"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-nope"}, "flag provided but not defined: -nope"},
		{[]string{"-rate", "-5ms"}, `invalid value "-5ms" for flag -rate: must not be negative`},
		{[]string{"-rate", "fast"}, `invalid value "fast" for flag -rate: not a duration`},
		{[]string{"-beats", "-3"}, `invalid value "-3" for flag -beats: must not be negative`},
		{[]string{"-beats", "many"}, `invalid value "many" for flag -beats: not a whole number`},
		{[]string{"-batch", "0"}, `invalid value "0" for flag -batch: must be at least 1`},
		{[]string{"-batch", "-2"}, `invalid value "-2" for flag -batch: must be at least 1`},
		{[]string{"-batch", "1000000"}, `invalid value "1000000" for flag -batch: must be at most 100000`},
		{[]string{"-chaos-rate", "1.5"}, `invalid value "1.5" for flag -chaos-rate: must be in [0, 1]`},
		{[]string{"-chaos-rate", "-0.1"}, `invalid value "-0.1" for flag -chaos-rate: must be in [0, 1]`},
		{[]string{"-chaos-rate", "NaN"}, `invalid value "NaN" for flag -chaos-rate: must be in [0, 1]`},
		{[]string{"-chaos-rate", "often"}, `invalid value "often" for flag -chaos-rate: not a number`},
		{[]string{"-telemetry", "9900"}, `invalid value "9900" for flag -telemetry: not host:port`},
		{[]string{"-telemetry", "localhost:"}, `invalid value "localhost:" for flag -telemetry: not host:port`},
		{[]string{"-seed", "-1"}, `invalid value "-1" for flag -seed: must not be negative`},
		{[]string{"-faults", "sometimes"}, `invalid value "sometimes" for flag -faults: must be one of scripted, none, chaos`},
		{[]string{"-report", "xml"}, `invalid value "xml" for flag -report: must be one of text, json`},
		{[]string{"-preset", "turbo"}, `invalid value "turbo" for flag -preset: must be one of dev, stress, monitor, production`},
		{[]string{"-log", "loud"}, `invalid value "loud" for flag -log: must be one of debug, info, warn, error`},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"-reset"}, `flag -reset needs -state DIR`},
		{[]string{"-out", filepath.Join(dir, "missing", "out.tsv")}, `for flag -out: no such file or directory`},
		{[]string{"-out", dir}, `for flag -out: is a directory`},
		{[]string{"-out", filepath.Join(notADir, "out.tsv")}, `for flag -out: not a directory`},

		// Across processes.
		{[]string{"-split", "-role", "publish"}, `flags -split and -role exclude each other`},
		{[]string{"-role", "publish"}, `flag -role publish needs -nats URL`},
		{[]string{"-role", "consume", "-nats", "http://127.0.0.1:4222"}, `invalid value "http://127.0.0.1:4222" for flag -nats: "http://127.0.0.1:4222": the scheme must be nats`},
		{[]string{"-split", "-nats", "nats://"}, `invalid value "nats://" for flag -nats: "nats://" is not a URL`},
		{[]string{"-nats", "nats://127.0.0.1:4222"}, `flag -nats needs -split or -role`},
		{[]string{"-role", "publish", "-nats", "nats://127.0.0.1:4222"}, `flag -out belongs to -role consume`},
		{[]string{"-split", "-nats-creds", filepath.Join(dir, "missing.creds")}, `for flag -nats-creds: no such file or directory`},
		{[]string{"-split", "-nats-creds", notADir}, `for flag -nats-creds: not a NATS credentials file`},
		{[]string{"-split", "-nats-tls-ca", notADir}, `for flag -nats-tls-ca: no PEM certificate in it`},
		{[]string{"-split", "-nats-tls-ca", ca}, `flag -nats-creds and -nats-tls-ca needs -nats URL`},
		{[]string{"-split", "-streams", "A.B"}, `invalid value "A.B" for flag -streams: use letters, digits`},
		{[]string{"-kills", "5"}, `flag -kills needs -split`},
		{[]string{"-split", "-kills", "x"}, `invalid value "x" for flag -kills: not a whole number`},
		{[]string{"-split", "-kill-every", "1s"}, `flag -kill-every needs -kills N`},
		{[]string{"-split", "-kills", "3", "-kill-every", "0"}, `flag -kill-every must be above 0 with -kills`},
		{[]string{"-role", "server"}, `flag -role server needs -state DIR`},
		{[]string{"-role", "server", "-state", dir, "-nats", "tls://127.0.0.1:4222"}, `-role server serves nats://HOST:PORT`},
		{[]string{"-role", "server", "-state", dir, "-nats", "nats://127.0.0.1"}, `-role server needs a port`},
		{[]string{"-role", "server", "-state", dir}, `flag -out makes no sense with -role server`},
		{[]string{"-split", "-faults", "degrade"}, `flags -faults degrade, -memory-limit and -spool work in one process`},
		{[]string{"-preset", "memory", "-split"}, `flags -faults degrade, -memory-limit and -spool work in one process`},
		{[]string{"-test-kill-at", "x"}, `invalid value "x" for flag -test-kill-at: not name:n`},
		{[]string{"-test-kill-at", "x:1"}, `flag -test-kill-at needs -role publish or consume`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			args := tc.args
			untouched := filepath.Join(t.TempDir(), "untouched.tsv")
			if tc.args[0] != "-out" {
				args = append([]string{"-out", untouched}, args...)
			}
			res := runRobust(t, args...)
			first, rest, _ := strings.Cut(res.stderr, "\n")
			if res.status != 2 || !strings.HasPrefix(first, "robust: ") || !strings.Contains(first, tc.want) {
				t.Errorf("exit status %d, first line %q; want 2 and %q", res.status, first, tc.want)
			}
			if !strings.HasPrefix(rest, "usage: robust") || res.stdout != "" {
				t.Errorf("want the usage after the error and nothing on stdout; stdout %q, stderr:\n%s", res.stdout, res.stderr)
			}
			if _, err := os.Stat(untouched); !os.IsNotExist(err) {
				t.Errorf("-out file touched: %v", err)
			}
		})
	}
}

// TestDeadLettersNotSplit: -dead-letters works on the state of the
// pipeline in one process, so a split run or a half, by flag or by preset,
// is refused.
func TestDeadLettersNotSplit(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"-split", "-dead-letters", "list", "-state", dir},
		{"-preset", "crash", "-dead-letters", "list", "-state", dir},
		{"-role", "consume", "-nats", "nats://127.0.0.1:4222", "-dead-letters", "list", "-state", dir},
	} {
		if _, err := parseFlags(args); err == nil || !strings.Contains(err.Error(), "not with -split or -role") {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// TestSplitBadOutTouchesNothing: a split run with an -out it cannot write
// exits 2 before it creates its state directory or starts anything.
func TestSplitBadOutTouchesNothing(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "run")
	res := runRobust(t, "-split", "-state", state, "-out", filepath.Join(dir, "missing", "out.tsv"))
	if first, _, _ := strings.Cut(res.stderr, "\n"); res.status != 2 || !strings.Contains(first, "for flag -out: no such file or directory") {
		t.Errorf("exit status %d, stderr:\n%s", res.status, res.stderr)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("the state directory was created: %v", err)
	}
}

func TestHelp(t *testing.T) {
	res := runRobust(t, "-h")
	if res.status != 0 || !strings.HasPrefix(res.stdout, "usage: robust") || !strings.Contains(res.stdout, "-chaos-rate") ||
		!strings.Contains(res.stdout, "production") || !strings.Contains(res.stdout, "-role publish -nats") {
		t.Errorf("exit status %d, stdout:\n%s", res.status, res.stdout)
	}
	for _, hidden := range hiddenFlags {
		if strings.Contains(res.stdout, "-"+hidden+" ") {
			t.Errorf("the usage lists the hidden flag -%s", hidden)
		}
	}
}

// TestPresets: a preset sets its flags, explicit flags win wherever they
// stand, and every preset's values are valid.
func TestPresets(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		check func(c config) bool
	}{
		{nil, func(c config) bool { return c == defaultConfig() }},
		{[]string{"-preset", "dev"}, func(c config) bool {
			return c.rate == time.Millisecond && c.beats == 400 && c.faults == robust.Scripted
		}},
		{[]string{"-preset", "dev", "-beats", "7"}, func(c config) bool { return c.rate == time.Millisecond && c.beats == 7 }},
		{[]string{"-beats", "7", "-faults", "none", "-preset", "stress"}, func(c config) bool {
			return c.rate == 0 && c.beats == 7 && c.faults == robust.NoFaults && c.batch == 1000 && c.logLevel == slog.LevelError
		}},
		{[]string{"-preset", "monitor"}, func(c config) bool {
			d := defaultConfig()
			return c.logLevel == slog.LevelDebug && c.rate == d.rate && c.faults == robust.Scripted
		}},
		{[]string{"-preset", "production"}, func(c config) bool {
			return c.rate == time.Second && c.beats == 0 && c.faults == robust.NoFaults
		}},
	} {
		c, err := parseFlags(tc.args)
		if err != nil || !tc.check(c) {
			t.Errorf("%v: %+v, %v", tc.args, c, err)
		}
	}
	for _, p := range presets {
		if _, err := parseFlags([]string{"-preset", p.name}); err != nil {
			t.Errorf("preset %s: %v", p.name, err)
		}
	}
}

// TestTextReport: the default report format, and a failing check's exit
// status, in process.
func TestTextReport(t *testing.T) {
	var stdout, stderr strings.Builder
	status := robustMain([]string{"-telemetry", "", "-rate", "0", "-beats", "50", "-faults", "none", "-log", "error"}, &stdout, &stderr)
	if status != 0 || !strings.Contains(stdout.String(), "PASSED: 5 of 5 checks pass") || stderr.Len() != 0 {
		t.Errorf("exit status %d\nstdout:\n%s\nstderr:\n%s", status, stdout.String(), stderr.String())
	}
}

// writeCA writes a self-signed CA certificate, PEM-encoded, to path.
func writeCA(t *testing.T, path string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "robust test CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

package heartbeat

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const redisServer = "/usr/bin/redis-server"

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRedis runs redis-server on loopback and returns its port once it accepts connections.
func startRedis(t *testing.T, tlsPort bool, args ...string) int {
	t.Helper()
	if _, err := os.Stat(redisServer); err != nil {
		t.Skip("no redis-server at " + redisServer)
	}
	port := freePort(t)
	base := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}
	if tlsPort {
		base = []string{"--port", "0", "--tls-port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}
	}
	cmd := exec.Command(redisServer, append(base, args...)...)
	cmd.Dir = t.TempDir()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			c.Close()
			return port
		}
	}
	t.Fatal("redis-server did not start")
	return 0
}

func ping(t *testing.T, url string, opts ...RedisOption) error {
	t.Helper()
	check, err := RedisPing(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return check(ctx)
}

func TestRedisPingACLUserPasswordAndDB(t *testing.T) {
	port := startRedis(t, false, "--user", "app", "on", ">s3cr/et@:x", "~*", "+@all", "--requirepass", "p@ss")
	host := "127.0.0.1:" + strconv.Itoa(port)
	for _, url := range []string{
		"redis://app:s3cr%2Fet%40%3Ax@" + host,
		"redis://app:s3cr%2Fet%40%3Ax@" + host + "/3",
		"redis://:p%40ss@" + host + "/0",
	} {
		if err := ping(t, url); err != nil {
			t.Errorf("%s: %v", url, err)
		}
	}
	for _, url := range []string{
		"redis://app:wrong-s3cret@" + host,
		"redis://:wrong-s3cret@" + host,
		"redis://" + host,
		"redis://app:s3cr%2Fet%40%3Ax@" + host + "/99",
	} {
		err := ping(t, url)
		if err == nil {
			t.Errorf("%s: no error", url)
			continue
		}
		if strings.Contains(err.Error(), "s3cr") || !strings.Contains(err.Error(), host) {
			t.Errorf("%s: error %q leaks the password or lacks host:port", url, err)
		}
	}
}

func TestRedisPingErrorsAndDeadline(t *testing.T) {
	for _, url := range []string{"http://h", "redis://", "redis://u:pa/ss@h:x", "redis://h/db"} {
		if _, err := RedisPing(url); err == nil {
			t.Errorf("%s accepted", url)
		} else if strings.Contains(err.Error(), "pa/ss") {
			t.Errorf("%q leaks the password", err)
		}
	}
	if _, err := RedisPing("redis://h", WithTLSConfig(&tls.Config{})); err == nil {
		t.Error("a TLS config for redis:// was accepted")
	}
	// A listener that never answers: the check must end at the context's deadline.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	check, _ := RedisPing("redis://:secret@" + l.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	begun := time.Now()
	err = check(ctx)
	if err == nil || time.Since(begun) > 3*time.Second || strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), l.Addr().String()) {
		t.Fatalf("%v after %v", err, time.Since(begun))
	}
}

func TestRedisPingTLS(t *testing.T) {
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "workerguard test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	port := startRedis(t, true, "--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", certFile,
		"--tls-auth-clients", "no", "--user", "app", "on", ">s3cret", "~*", "+@all")
	cert, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	url := "rediss://app:s3cret@127.0.0.1:" + strconv.Itoa(port) + "/1"
	if err := ping(t, url, WithTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})); err != nil {
		t.Fatal(err)
	}
	err = ping(t, url) // system roots do not know the test CA
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("system roots: %v", err)
	}
}

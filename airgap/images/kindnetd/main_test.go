package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestCNIConfigSingleStack(t *testing.T) {
	data, err := cniConfig([]string{"10.244.0.0/24"}, 1450)
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Name    string `json:"name"`
		Plugins []struct {
			Type string `json:"type"`
			MTU  int    `json:"mtu"`
			IPAM struct {
				Type   string                `json:"type"`
				Ranges [][]map[string]string `json:"ranges"`
				Routes []map[string]string   `json:"routes"`
			} `json:"ipam"`
			Capabilities map[string]bool `json:"capabilities"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(data, &conf); err != nil {
		t.Fatal(err)
	}
	if conf.Name != "kindnet" || len(conf.Plugins) != 2 {
		t.Fatalf("unexpected config: %s", data)
	}
	ptp, portmap := conf.Plugins[0], conf.Plugins[1]
	if ptp.Type != "ptp" || ptp.MTU != 1450 || ptp.IPAM.Type != "host-local" {
		t.Fatalf("ptp plugin wrong: %s", data)
	}
	if ptp.IPAM.Ranges[0][0]["subnet"] != "10.244.0.0/24" || ptp.IPAM.Routes[0]["dst"] != "0.0.0.0/0" {
		t.Fatalf("ipam wrong: %s", data)
	}
	if portmap.Type != "portmap" || !portmap.Capabilities["portMappings"] {
		t.Fatalf("portmap wrong: %s", data)
	}
}

func TestCNIConfigDualStackAndBadCIDR(t *testing.T) {
	data, err := cniConfig([]string{"10.244.1.0/24", "fd00:10:244:1::/64"}, 1500)
	if err != nil {
		t.Fatal(err)
	}
	var conf map[string]any
	if err := json.Unmarshal(data, &conf); err != nil {
		t.Fatal(err)
	}
	ipam := conf["plugins"].([]any)[0].(map[string]any)["ipam"].(map[string]any)
	if len(ipam["ranges"].([]any)) != 2 || ipam["routes"].([]any)[1].(map[string]any)["dst"] != "::/0" {
		t.Fatalf("dual stack wrong: %s", data)
	}
	if _, err := cniConfig([]string{"not-a-cidr"}, 1500); err == nil {
		t.Fatal("a bad CIDR must be an error")
	}
}

func TestWriteIfChanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "net.d", "10-kindnet.conflist")
	if changed, err := writeIfChanged(path, []byte("a")); err != nil || !changed {
		t.Fatalf("first write: %v %v", changed, err)
	}
	if changed, err := writeIfChanged(path, []byte("a")); err != nil || changed {
		t.Fatalf("same content must not rewrite: %v %v", changed, err)
	}
	if changed, _ := writeIfChanged(path, []byte("b")); !changed {
		t.Fatal("new content must be written")
	}
	if got, _ := os.ReadFile(path); string(got) != "b" {
		t.Fatalf("content %q", got)
	}
}

func TestNodeCIDRsAndAddresses(t *testing.T) {
	var n node
	n.Spec.PodCIDR = "10.244.0.0/24"
	n.Status.Addresses = []address{{"Hostname", "x"}, {"InternalIP", "172.18.0.2"}}
	if got := n.cidrs(); len(got) != 1 || got[0] != "10.244.0.0/24" {
		t.Fatalf("cidrs %v", got)
	}
	n.Spec.PodCIDRs = []string{"10.244.0.0/24", "fd00::/64"}
	if len(n.cidrs()) != 2 {
		t.Fatal("podCIDRs must win over podCIDR")
	}
	if ips := n.internalIPs(); len(ips) != 1 || ips[0] != "172.18.0.2" {
		t.Fatalf("internal IPs %v", ips)
	}
}

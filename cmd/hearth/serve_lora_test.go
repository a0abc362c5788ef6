package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/internal/testfixture"
)

// TestServeLoRA: llama-server's adapter flags on a real `hearth serve`:
// --lora and --lora-scaled list with ids and global scales, a request's
// "lora" field picks one by id, the response names the served model, and
// an adapter that fits no model served stops the start naming it.
func TestServeLoRA(t *testing.T) {
	base := filepath.Join(models, "stories260K.gguf")
	a, b := testfixture.AdapterFor(t, base, 1, 4), testfixture.AdapterFor(t, base, 2, 4)
	n := startNode(t, "--lora", a, "--lora-scaled", b+":0.5")
	c := loopbackOnly(n)
	status, _, body := keyedRequest(t, c, "GET", n.url+"/lora-adapters", "", "")
	var list []struct {
		ID    int     `json:"id"`
		Path  string  `json:"path"`
		Scale float32 `json:"scale"`
	}
	if err := json.Unmarshal([]byte(body), &list); status != 200 || err != nil || len(list) != 2 || list[0].Path != a || list[1].Scale != 0.5 {
		t.Fatalf("/lora-adapters: %d %s", status, body)
	}
	chat := `{"model":"stories260k","stream":true,"max_tokens":4,"lora":[{"id":1,"scale":1}],"messages":[{"role":"user","content":"Lily"}]}`
	status, h, body := keyedRequest(t, c, "POST", n.url+"/v1/chat/completions", "", chat)
	if status != 200 || h.Get("X-Hearth-Model") != "stories260k" || !strings.Contains(body, "[DONE]") {
		t.Errorf("a chat picking adapter 1: %d %q %s", status, h.Get("X-Hearth-Model"), body)
	}
	name := "stories260k:" + strings.TrimSuffix(filepath.Base(b), ".gguf")
	status, h, body = keyedRequest(t, c, "POST", n.url+"/v1/completions", "", `{"model":"`+name+`","max_tokens":4,"prompt":"Lily"}`)
	if status != 200 || h.Get("X-Hearth-Model") != name {
		t.Errorf("the adapter by name: %d %q %s", status, h.Get("X-Hearth-Model"), body)
	}

	other := filepath.Join(t.TempDir(), "qwen-lora.gguf")
	if err := os.WriteFile(other, testfixture.AdapterFile(t, "qwen2", 1), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(hearthBinary(t), "serve", "--addr", "127.0.0.1:0", "--model", base, "--data-dir", t.TempDir(), "--lora", other).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "qwen-lora.gguf") || !strings.Contains(string(out), "fits none") {
		t.Errorf("an adapter that fits no model: %v\n%s", err, out)
	}
	out, err = exec.Command(hearthBinary(t), "serve", "--addr", "127.0.0.1:0", "--model", base, "--data-dir", t.TempDir(), "--lora-scaled", a+":NaN").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not a number") {
		t.Errorf("a NaN scale: %v\n%s", err, out)
	}
}

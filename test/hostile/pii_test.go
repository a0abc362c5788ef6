package hostile

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestHostilePersonalData: what the issue found left in clear in a real
// node's captures and feedback (person names, phone numbers in their many
// written forms, national ids, an obfuscated e-mail) is scrubbed, and a
// correction's placeholders do not collide with its prompt's.
func TestHostilePersonalData(t *testing.T) {
	dir := t.TempDir()
	Hearth(t, "tenants", "create", "clinic", "--capture", "on", "--retention-days", "30", "--data-dir", dir)
	key := strings.TrimSpace(Hearth(t, "keys", "create", "--tenant", "clinic", "--scopes", "inference,feedback", "--data-dir", dir))
	n := Start(t, dir)
	planted := []string{
		"John Smith", "Amina Odhiambo", "Mary Wambui", "0722000111", "254722333444", "2125550199", "(555) 123-4567",
		"555.123.4567", "9876543210", "2345 6789 0123", "A012345678Z", "JOHN(at)example(dot)com", "0733444555",
	}
	system := "Patient: Mary Wambui. You help Dr. Amina Odhiambo."
	user := "Hi, I am John Smith, record: 0722000111, ref 254722333444. My US number is 2125550199, or (555) 123-4567 " +
		"or 555.123.4567; in India call 9876543210. Aadhaar 2345 6789 0123, KRA PIN A012345678Z, mail JOHN(at)example(dot)com."
	body, _ := json.Marshal(map[string]any{"model": "stories260k", "max_tokens": 4, "messages": []map[string]string{
		{"role": "system", "content": system}, {"role": "user", "content": user}}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	status, resp, err := n.Post(ctx, "/v1/chat/completions", string(body), "Authorization", "Bearer "+key)
	if err != nil || status != 200 {
		t.Fatalf("chat: %d %v %s", status, err, resp)
	}
	var out struct{ ID string }
	json.Unmarshal([]byte(resp), &out)
	fb, _ := json.Marshal(map[string]any{"response_id": out.ID, "rating": 2,
		"correction": "Call Mary Wambui on 0733444555, not 0722000111."})
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, resp, err = n.Post(ctx, "/v1/feedback", string(fb), "Authorization", "Bearer "+key)
		if err == nil && status == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // the capture is saved once the answer is out
	}
	if status != 200 {
		t.Fatalf("feedback: %d %v %s", status, err, resp)
	}
	export := Hearth(t, "capture", "export", "--tenant", "clinic", "--data-dir", dir)
	for _, p := range planted {
		if strings.Contains(export, p) {
			t.Errorf("%q is in clear in the capture export", p)
		}
	}
	// The correction's old number is the prompt's <PHONE_n>; the new one
	// gets a number of its own.
	var rec struct {
		Messages []struct{ Content string }    `json:"messages"`
		Feedback []struct{ Correction string } `json:"feedback"`
	}
	if err := json.Unmarshal([]byte(strings.SplitN(strings.TrimSpace(export), "\n", 2)[0]), &rec); err != nil || len(rec.Feedback) != 1 {
		t.Fatalf("export %q: %v", export, err)
	}
	corr := rec.Feedback[0].Correction
	prompt := rec.Messages[len(rec.Messages)-1].Content
	first := strings.Index(prompt, "<PHONE_")
	if first < 0 {
		t.Fatalf("no phone placeholder in the scrubbed prompt %q", prompt)
	}
	oldPH := prompt[first : first+strings.Index(prompt[first:], ">")+1]
	if !strings.Contains(corr, "not "+oldPH) {
		t.Errorf("correction %q: the prompt's number (%s in %q) should keep its placeholder", corr, oldPH, prompt)
	}
	if strings.Count(corr, oldPH) != 1 {
		t.Errorf("correction %q uses %s for two different numbers", corr, oldPH)
	}
}

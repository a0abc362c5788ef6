package capture

import (
	"context"
	"fmt"
	"testing"

	"github.com/hearth-ai/hearth/tenant"
)

// BenchmarkSave is what a captured request costs the server after its
// response: scrubbing, sealing and one insert (plus the audit append,
// here in memory).
func BenchmarkSave(b *testing.B) {
	f := newFixture(b, "KE")
	ctx := context.Background()
	tn := tenantWith("t1", tenant.CaptureOn, "KE", 30)
	in := interaction("", "")
	i := 0
	for b.Loop() {
		in.ResponseID = fmt.Sprintf("r%d", i)
		i++
		if err := f.s.Save(ctx, tn, in); err != nil {
			b.Fatal(err)
		}
	}
}

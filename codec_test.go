package steady_test

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/steady-go/steady"
)

func roundTrip[T any](t *testing.T, v T) {
	t.Helper()
	c, err := steady.DefaultCodec[T]()
	if err != nil {
		t.Fatalf("DefaultCodec[%T]: %v", v, err)
	}
	b, err := c.Append([]byte("prefix"), v)
	if err != nil {
		t.Fatalf("Append(%v): %v", v, err)
	}
	if !strings.HasPrefix(string(b), "prefix") {
		t.Fatalf("Append overwrote dst: %q", b)
	}
	got, err := c.Decode(b[len("prefix"):])
	if err != nil {
		t.Fatalf("Decode(%v): %v", v, err)
	}
	if !reflect.DeepEqual(got, v) && !(isNaN(v) && isNaN(got)) {
		t.Errorf("round trip of %T: got %v, want %v", v, got, v)
	}
}

func isNaN(v any) bool { f, ok := v.(float64); return ok && math.IsNaN(f) }

type point struct {
	X, Y  int
	Label string
	When  time.Time
	Tags  map[string][]int
}

type blob struct{ b []byte }

func (x blob) MarshalBinary() ([]byte, error)  { return x.b, nil }
func (x *blob) UnmarshalBinary(b []byte) error { x.b = append([]byte(nil), b...); return nil }
func (x blob) Equal(y blob) bool               { return string(x.b) == string(y.b) }

func TestDefaultCodecRoundTrips(t *testing.T) {
	roundTrip(t, uint64(math.MaxUint64))
	roundTrip(t, int64(math.MinInt64))
	roundTrip(t, -7)
	roundTrip(t, uint8(200))
	roundTrip(t, int16(-300))
	roundTrip(t, true)
	roundTrip(t, false)
	roundTrip(t, 3.25)
	roundTrip(t, math.NaN())
	roundTrip(t, float32(-1.5))
	roundTrip(t, "héllo")
	roundTrip(t, []byte{0, 1, 2})
	roundTrip(t, point{X: 1, Y: -2, Label: "p", When: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), Tags: map[string][]int{"a": {1}}})
	roundTrip(t, []point{{X: 3}})
	roundTrip(t, blob{b: []byte("raw")})
}

func TestDefaultCodecRefusesWhatItWouldLose(t *testing.T) {
	type inner struct{ n int }
	type outer struct{ In []inner }
	_ = outer{In: []inner{{n: 1}}}.In[0].n
	type skipped struct {
		A int `json:"-"`
	}
	for _, tc := range []struct {
		err  func() error
		want string
	}{
		{func() error { _, err := steady.DefaultCodec[outer](); return err }, "In.n"},
		{func() error { _, err := steady.DefaultCodec[skipped](); return err }, `skipped.A`},
		{func() error { _, err := steady.DefaultCodec[chan int](); return err }, "chan"},
		{func() error { _, err := steady.DefaultCodec[any](); return err }, "interface"},
		{func() error { _, err := steady.DefaultCodec[map[string]func()](); return err }, "func"},
	} {
		if err := tc.err(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error naming %q", err, tc.want)
		}
	}
}

func TestDefaultCodecDecodeErrors(t *testing.T) {
	c8, _ := steady.DefaultCodec[uint8]()
	if _, err := c8.Decode([]byte{0, 1, 0, 0, 0, 0, 0, 0}); err == nil {
		t.Error("uint8 decoded 256")
	}
	c64, _ := steady.DefaultCodec[uint64]()
	if _, err := c64.Decode([]byte{1, 2, 3}); err == nil {
		t.Error("uint64 decoded 3 bytes")
	}
	cb, _ := steady.DefaultCodec[bool]()
	if _, err := cb.Decode([]byte{2}); err == nil {
		t.Error("bool decoded 2")
	}
	cp, _ := steady.DefaultCodec[point]()
	if _, err := cp.Decode([]byte("{not json")); err == nil {
		t.Error("point decoded bad JSON")
	}
}

func BenchmarkDefaultCodecUint64(b *testing.B) {
	c, _ := steady.DefaultCodec[uint64]()
	buf := make([]byte, 0, 64)
	for i := range b.N {
		buf, _ = c.Append(buf[:0], uint64(i))
	}
	if testing.AllocsPerRun(100, func() { buf, _ = c.Append(buf[:0], 12345) }) > 0 {
		b.Error("Append allocates")
	}
}

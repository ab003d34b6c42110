package store

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestFrames(t *testing.T) {
	long := strings.Repeat("x", 300) // a two-byte length
	var data []byte
	for _, m := range []string{"a", "", long} {
		data = AppendFrame(data, []byte(m))
	}
	got, err := Frames(data, 3)
	if err != nil || !reflect.DeepEqual(got, [][]byte{[]byte("a"), {}, []byte(long)}) {
		t.Errorf("Frames = %q, %v; want the three messages", got, err)
	}
	for _, tc := range []struct {
		name  string
		data  []byte
		count int
	}{
		{"fewer frames than counted", data, 4},
		{"more frames than counted", data, 2},
		{"a frame cut short", data[:len(data)-1], 3},
		{"a negative count", data, -1},
		{"a count beyond any data", data, 1 << 50},
	} {
		if _, err := Frames(tc.data, tc.count); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Frames = %v, want ErrCorrupt", tc.name, err)
		}
	}
}

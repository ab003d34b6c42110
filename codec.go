package steady

import (
	"encoding"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
)

// Codec turns the values of a durable channel or state into bytes and back.
// A graph with a [Config.Store] needs one for every channel and state; the
// default ([DefaultCodec]) fits most types, and [Channel.SetCodec] and
// [State.SetCodec] replace it.
//
// Append appends the encoding of v to dst and returns the extended slice;
// Decode reverses it. Both are called on actors' goroutines, Append once per
// message sent and per state changed in each committed step, so its cost is
// the cost of durability per message.
type Codec[T any] interface {
	Append(dst []byte, v T) ([]byte, error)
	Decode(src []byte) (T, error)
}

// DefaultCodec returns the codec a durable graph uses for T unless told
// otherwise:
//
//   - booleans, integers and floats of any size: fixed-width little-endian
//     bytes (a float keeps its exact bits, NaN included), and strings and
//     []byte as their bytes; a few nanoseconds per value;
//   - types that implement encoding.BinaryMarshaler and
//     encoding.BinaryUnmarshaler (on the pointer): those methods;
//   - anything else: encoding/json, about a microsecond for a small struct.
//     JSON would silently drop unexported struct fields, so DefaultCodec
//     refuses a type that has any (reachable through fields, slices, arrays,
//     maps or pointers) unless the type carrying them implements
//     json.Marshaler; channels, functions and complex numbers are refused too.
//     Give such a type its own Codec.
//
// It returns an error naming the field it cannot persist.
func DefaultCodec[T any]() (Codec[T], error) {
	var zero T
	switch any(zero).(type) {
	case bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, uintptr, float32, float64:
		return fixedCodec[T]{}, nil
	case string:
		return any(stringCodec{}).(Codec[T]), nil
	case []byte:
		return any(bytesCodec{}).(Codec[T]), nil
	}
	if _, ok := any(&zero).(encoding.BinaryUnmarshaler); ok {
		if _, ok := any(zero).(encoding.BinaryMarshaler); ok {
			return binaryCodec[T]{}, nil
		}
		if _, ok := any(&zero).(encoding.BinaryMarshaler); ok {
			return binaryCodec[T]{}, nil
		}
	}
	if err := jsonSafe(reflect.TypeFor[T](), reflect.TypeFor[T]().String(), map[reflect.Type]bool{}); err != nil {
		return nil, err
	}
	return jsonCodec[T]{}, nil
}

// fixedCodec encodes booleans and numbers as fixed-width bits. The type
// switches on a non-escaping interface do not allocate.
type fixedCodec[T any] struct{}

func (fixedCodec[T]) Append(dst []byte, v T) ([]byte, error) {
	var u uint64
	switch x := any(v).(type) {
	case bool:
		if x {
			return append(dst, 1), nil
		}
		return append(dst, 0), nil
	case uint64:
		u = x
	case int64:
		u = uint64(x)
	case int:
		u = uint64(x)
	case uint:
		u = uint64(x)
	case uint32:
		u = uint64(x)
	case int32:
		u = uint64(x)
	case uint16:
		u = uint64(x)
	case int16:
		u = uint64(x)
	case uint8:
		u = uint64(x)
	case int8:
		u = uint64(x)
	case uintptr:
		u = uint64(x)
	case float64:
		u = math.Float64bits(x)
	case float32:
		u = uint64(math.Float32bits(x))
	}
	return binary.LittleEndian.AppendUint64(dst, u), nil
}

func (fixedCodec[T]) Decode(src []byte) (T, error) {
	var v T
	if b, ok := any(&v).(*bool); ok {
		if len(src) != 1 || src[0] > 1 {
			return v, fmt.Errorf("steady: decode bool: want one byte, 0 or 1, have %x", src)
		}
		*b = src[0] == 1
		return v, nil
	}
	if len(src) != 8 {
		return v, fmt.Errorf("steady: decode %T: want 8 bytes, have %d", v, len(src))
	}
	u := binary.LittleEndian.Uint64(src)
	var fits bool
	switch p := any(&v).(type) {
	case *uint64:
		*p, fits = u, true
	case *int64:
		*p, fits = int64(u), true
	case *int:
		*p = int(u)
		fits = int64(*p) == int64(u)
	case *uint:
		*p = uint(u)
		fits = uint64(*p) == u
	case *uintptr:
		*p = uintptr(u)
		fits = uint64(*p) == u
	case *uint32:
		*p = uint32(u)
		fits = uint64(*p) == u
	case *int32:
		*p = int32(u)
		fits = int64(*p) == int64(u)
	case *uint16:
		*p = uint16(u)
		fits = uint64(*p) == u
	case *int16:
		*p = int16(u)
		fits = int64(*p) == int64(u)
	case *uint8:
		*p = uint8(u)
		fits = uint64(*p) == u
	case *int8:
		*p = int8(u)
		fits = int64(*p) == int64(u)
	case *float64:
		*p, fits = math.Float64frombits(u), true
	case *float32:
		*p = math.Float32frombits(uint32(u))
		fits = u>>32 == 0
	}
	if !fits {
		return v, fmt.Errorf("steady: decode %T: %#x does not fit", v, u)
	}
	return v, nil
}

type stringCodec struct{}

func (stringCodec) Append(dst []byte, v string) ([]byte, error) { return append(dst, v...), nil }
func (stringCodec) Decode(src []byte) (string, error)           { return string(src), nil }

type bytesCodec struct{}

func (bytesCodec) Append(dst []byte, v []byte) ([]byte, error) { return append(dst, v...), nil }
func (bytesCodec) Decode(src []byte) ([]byte, error)           { return append([]byte(nil), src...), nil }

// binaryCodec uses the type's own MarshalBinary and UnmarshalBinary.
type binaryCodec[T any] struct{}

func (binaryCodec[T]) Append(dst []byte, v T) ([]byte, error) {
	m, ok := any(v).(encoding.BinaryMarshaler)
	if !ok {
		m = any(&v).(encoding.BinaryMarshaler)
	}
	b, err := m.MarshalBinary()
	if err != nil {
		return dst, fmt.Errorf("steady: encode %T: %w", v, err)
	}
	return append(dst, b...), nil
}

func (binaryCodec[T]) Decode(src []byte) (T, error) {
	var v T
	if err := any(&v).(encoding.BinaryUnmarshaler).UnmarshalBinary(src); err != nil {
		return v, fmt.Errorf("steady: decode %T: %w", v, err)
	}
	return v, nil
}

// jsonCodec is the fallback for structs and collections.
type jsonCodec[T any] struct{}

func (jsonCodec[T]) Append(dst []byte, v T) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, fmt.Errorf("steady: encode %T as JSON: %w", v, err)
	}
	return append(dst, b...), nil
}

func (jsonCodec[T]) Decode(src []byte) (T, error) {
	var v T
	if err := json.Unmarshal(src, &v); err != nil {
		return v, fmt.Errorf("steady: decode %T from JSON: %w", v, err)
	}
	return v, nil
}

var jsonMarshaler = reflect.TypeFor[json.Marshaler]()

// jsonSafe reports what of t encoding/json would lose or refuse; path names
// where t is, for the error.
func jsonSafe(t reflect.Type, path string, seen map[reflect.Type]bool) error {
	if seen[t] || t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler) {
		return nil
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Chan, reflect.Func, reflect.Complex64, reflect.Complex128, reflect.UnsafePointer:
		return fmt.Errorf("steady: %s: the default codec cannot persist a %s; set a Codec", path, t.Kind())
	case reflect.Interface:
		if t.NumMethod() == 0 {
			return fmt.Errorf("steady: %s: the default codec cannot decode an interface back to its type; set a Codec", path)
		}
		return fmt.Errorf("steady: %s: the default codec cannot persist interface %s; set a Codec", path, t)
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return jsonSafe(t.Elem(), path, seen)
	case reflect.Map:
		if err := jsonSafe(t.Key(), path+" (map key)", seen); err != nil {
			return err
		}
		return jsonSafe(t.Elem(), path, seen)
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				return fmt.Errorf("steady: %s.%s: the default codec (JSON) would drop the unexported field; export it, give %s a MarshalJSON/UnmarshalJSON or MarshalBinary/UnmarshalBinary, or set a Codec", path, f.Name, t)
			}
			if f.Tag.Get("json") == "-" {
				return fmt.Errorf("steady: %s.%s: the default codec (JSON) would drop the field tagged json:\"-\"; set a Codec", path, f.Name)
			}
			if err := jsonSafe(f.Type, path+"."+f.Name, seen); err != nil {
				return err
			}
		}
	}
	return nil
}

package robust

import "fmt"

// Category is the FizzBuzz category of a value.
type Category uint8

// The categories. Zero is a multiple of 15, so it is FizzBuzz.
const (
	Value    Category = iota // neither a multiple of 3 nor of 5
	Fizz                     // a multiple of 3, not of 5
	Buzz                     // a multiple of 5, not of 3
	FizzBuzz                 // a multiple of 15

	// NumCategories is the number of categories, for arrays indexed by
	// Category.
	NumCategories = 4
)

var categoryNames = [NumCategories]string{"Value", "Fizz", "Buzz", "FizzBuzz"}

func (c Category) String() string {
	if int(c) < len(categoryNames) {
		return categoryNames[c]
	}
	return fmt.Sprintf("Category(%d)", uint8(c))
}

// ParseCategory is the inverse of [Category.String].
func ParseCategory(s string) (Category, bool) {
	for i, name := range categoryNames {
		if s == name {
			return Category(i), true
		}
	}
	return 0, false
}

// Categorize returns the FizzBuzz category of v.
func Categorize(v uint64) Category {
	switch {
	case v%15 == 0:
		return FizzBuzz
	case v%3 == 0:
		return Fizz
	case v%5 == 0:
		return Buzz
	}
	return Value
}

// CountBelow returns how many values of each category lie in [0, n), by
// arithmetic: the values a run that logged 0..n-1 must have counted.
func CountBelow(n uint64) [NumCategories]uint64 {
	// ⌈n/k⌉ values in [0, n) are multiples of k, counting 0.
	m3, m5, m15 := (n+2)/3, (n+4)/5, (n+14)/15
	var c [NumCategories]uint64
	c[FizzBuzz] = m15
	c[Fizz] = m3 - m15
	c[Buzz] = m5 - m15
	c[Value] = n - m3 - m5 + m15
	return c
}

// Message is what the worker sends the logger: a value and its category.
type Message struct {
	Value    uint64
	Category Category
}

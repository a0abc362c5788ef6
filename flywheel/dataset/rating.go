package dataset

import "fmt"

// Score maps an interaction's feedback to the 1..5 star scale that
// Options.MinRating is compared with, and reports whether there was any:
//
//	Rating 1..5 (stars)  -> itself: 4..5 good, 3 neutral, 1..2 bad
//	Thumb +1 (up)        -> 5: good at any MinRating
//	Thumb -1 (down)      -> 1: bad unless MinRating is 1
//
// Rating wins when both are set. Values outside those ranges are an error.
func Score(in Interaction) (score int, rated bool, err error) {
	switch {
	case in.Rating < 0 || in.Rating > 5:
		return 0, false, fmt.Errorf("rating %d outside 1..5", in.Rating)
	case in.Thumb < -1 || in.Thumb > 1:
		return 0, false, fmt.Errorf("thumb %d: want +1 or -1", in.Thumb)
	case in.Rating > 0:
		return in.Rating, true, nil
	case in.Thumb == 1:
		return 5, true, nil
	case in.Thumb == -1:
		return 1, true, nil
	}
	return 0, false, nil
}

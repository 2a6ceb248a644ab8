package pathseg

// Covers says whether every value of segment c is a value of s: c's
// literal text and parameters, read left to right, can be matched by s's
// parts, each parameter of c only by a part of s whose values include all
// of its own (an {int} by a {hex} or an {alnum} run, any part by
// {param}). It is sound, not complete: when it says yes, no value of c
// escapes s; a few pairs where s does cover c are not recognised, and
// then the two stay separate templates, as before.
func (s Segment) Covers(c Segment) bool {
	// c as a sequence of tokens: one per literal byte, one per parameter.
	var toks []Part
	for _, p := range c {
		if p.Class != Literal {
			toks = append(toks, p)
			continue
		}
		for i := 0; i < len(p.Lit); i++ {
			toks = append(toks, Part{Lit: p.Lit[i : i+1]})
		}
	}
	memo := map[[2]int]bool{}
	var cover func(i, j int) bool // s[i:] covers toks[j:]
	cover = func(i, j int) bool {
		if i == len(s) {
			return j == len(toks)
		}
		k := [2]int{i, j}
		if v, ok := memo[k]; ok {
			return v
		}
		memo[k] = false
		v := coverPart(s[i], toks, j, func(next int) bool { return cover(i+1, next) })
		memo[k] = v
		return v
	}
	return cover(0, 0)
}

// coverPart tries every way part p can match toks from j on, calling
// rest with where the match ends, until rest says yes.
func coverPart(p Part, toks []Part, j int, rest func(int) bool) bool {
	switch p.Class {
	case Literal:
		for n := 0; n < len(p.Lit); n++ {
			if j+n >= len(toks) || toks[j+n].Class != Literal || toks[j+n].Lit[0] != p.Lit[n] {
				return false
			}
		}
		return rest(j + len(p.Lit))
	case Int, Hex, Alnum:
		// A run: literal bytes of its class and parameters whose values
		// are runs of it; with a fixed length, exactly that many bytes.
		n := 0
		for k := j; k < len(toks); k++ {
			t := toks[k]
			switch {
			case t.Class == Literal && runOf(p.Class, t.Lit):
				n++
			case t.Class.Word() && wordWithin(t.Class, p.Class) && (p.Len == 0 || t.Len > 0):
				n += max(t.Len, 1)
			default:
				return false
			}
			if p.Len > 0 && n > p.Len {
				return false
			}
			if (p.Len == 0 || n == p.Len) && rest(k+1) {
				return true
			}
		}
		return false
	case Date, UUID, Email:
		if j < len(toks) && toks[j].Class == p.Class {
			return rest(j + 1)
		}
		return false
	case Any:
		for k := j + 1; k <= len(toks); k++ {
			if rest(k) {
				return true
			}
		}
	}
	return false
}

// wordWithin says whether every run of class a is a run of class b.
func wordWithin(a, b Class) bool {
	return a == b || a == Int && (b == Hex || b == Alnum) || a == Hex && b == Alnum
}

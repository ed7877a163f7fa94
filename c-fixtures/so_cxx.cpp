/*
 * A C++ crash chain for the demangling tests (see build.rs: so_*.cpp each
 * become a shared object, built by the system C++ compiler; the crash
 * test loads it with dlopen).
 *
 * fh_cxx_crash(n) calls, through namespaces, templates, operators, a
 * lambda and functions taking std:: types, down to
 * acc::Widget<int>::poke(), which reads a null pointer. Every function of
 * the chain is kept out of line, so each is a frame of its own, and the
 * tests compare their names in the report with `c++filt`'s.
 *
 * The rest (a vtable, typeinfo, more operators, a conversion, an
 * anonymous namespace, a static local) gives the unit tests more real
 * mangled names: they compile this file at test time and compare every
 * symbol's demangling with c++filt's.
 */
#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#define NOINLINE __attribute__((noinline, used))

namespace acc {

/* The address the crash reads (the Rust side checks the fault address). */
static volatile int *const FH_CXX_NULL = reinterpret_cast<int *>(0x10);

template <typename T> struct Widget {
    T value;
    NOINLINE int poke(T v, const std::string *label) {
        /* The crash: a read through a null pointer. */
        return *FH_CXX_NULL + static_cast<int>(v) + (label != nullptr);
    }
    NOINLINE Widget &operator<<(T v) {
        value += poke(v, nullptr);
        return *this;
    }
    NOINLINE int operator()(int x) const { return x + 1; }
    NOINLINE bool operator==(const Widget &o) const { return value == o.value; }
    NOINLINE explicit operator bool() const { return value != 0; }
};

struct Base {
    virtual ~Base() {}
    virtual int step(int x) { return x; }
};

struct Derived : Base {
    Widget<int> w{0};
    NOINLINE int step(int x) override {
        w << x;
        return w.value;
    }
};

namespace detail {

template <typename F> NOINLINE int apply(F f, int x) { return f(x); }

NOINLINE int through_std(std::vector<int> &v, std::map<std::string, int> *m,
                         const std::function<int(int)> &fn) {
    (void)m;
    return fn(v.empty() ? 1 : v.front());
}

} // namespace detail

NOINLINE int run(int n) {
    Derived d;
    Base *b = &d;
    auto lambda = [b](int x) { return b->step(x); };
    std::vector<int> v;
    v.push_back(n);
    std::function<int(int)> fn = [&lambda](int x) { return detail::apply(lambda, x); };
    return detail::through_std(v, nullptr, fn);
}

} // namespace acc

namespace {
NOINLINE int hidden(unsigned long long x, char const *s) { return static_cast<int>(x) + (s != nullptr); }
} // namespace

NOINLINE int counter() {
    static int calls = 0;
    return ++calls + hidden(1, "x");
}

template <typename... Ts> NOINLINE std::size_t count_args(Ts... args) {
    return sizeof...(args);
}

NOINLINE int more_names(int (*fp)(int), int (&arr)[4], long double ld,
                        std::pair<std::string, std::vector<double>> &&p) {
    acc::Widget<long> w{1};
    acc::Widget<long> w2{2};
    (void)(w == w2);
    (void)static_cast<bool>(w);
    return fp(arr[0]) + static_cast<int>(ld) + static_cast<int>(p.second.size()) +
           static_cast<int>(count_args(1, 'c', 2.0)) + counter() + w(1);
}

extern "C" {

/* Entry point for the Rust tests. */
NOINLINE int fh_cxx_crash(int n) { return acc::run(n); }

/* Keeps more_names (and what it instantiates) in the object. */
int fh_cxx_more_names(void) {
    int arr[4] = {1, 2, 3, 4};
    std::pair<std::string, std::vector<double>> p;
    return more_names([](int x) { return x; }, arr, 1.0L, std::move(p));
}
}

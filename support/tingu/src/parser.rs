//! Recursive-descent parser: tokens to [`ast::File`].
//!
//! On a syntax error the parser records a diagnostic and skips to the end of
//! the current declaration (`;` or a closing `}`), so several errors can be
//! reported at once. It never panics and always terminates: every loop either
//! consumes a token or stops.

use crate::ast::*;
use crate::diag::{Diag, Span};
use crate::lexer::{Tok, Token};

/// Deepest nesting of expressions or states accepted (keeps recursion bounded).
pub const MAX_DEPTH: usize = 64;

/// Longest chain of one kind of operator (`a + b + ...`) in one expression.
pub const MAX_CHAIN: usize = 256;

struct Parser<'a> {
    toks: &'a [Token],
    pos: usize,
    diags: &'a mut Vec<Diag>,
    depth: usize,
}

/// Marker for "an error was reported; recover".
struct Fail;

type PResult<T> = Result<T, Fail>;

const KEYWORDS: &[&str] = &[
    "import",
    "const",
    "protocol",
    "component",
    "in",
    "out",
    "concurrent",
    "call",
    "reply",
    "to",
    "notify",
    "var",
    "uses",
    "subport",
    "key",
    "state",
    "initial",
    "final",
    "restart",
    "mirror",
    "spawn",
    "true",
    "false",
];

/// Modifiers that may precede `state` (`idle` is contextual: not in
/// [`KEYWORDS`]).
const STATE_MODIFIERS: &[&str] = &["initial", "final", "restart", "idle"];

/// Parse a token stream (from [`crate::lexer::lex`]).
pub fn parse(toks: &[Token], diags: &mut Vec<Diag>) -> File {
    let mut p = Parser {
        toks,
        pos: 0,
        diags,
        depth: 0,
    };
    p.file()
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Tok {
        self.toks.get(self.pos).map_or(&Tok::Eof, |t| &t.tok)
    }

    fn peek_at(&self, n: usize) -> &Tok {
        self.toks.get(self.pos + n).map_or(&Tok::Eof, |t| &t.tok)
    }

    fn span(&self) -> Span {
        self.toks
            .get(self.pos)
            .or_else(|| self.toks.last())
            .map_or_else(Span::default, |t| t.span)
    }

    fn prev_span(&self) -> Span {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.toks.get(i))
            .map_or_else(|| self.span(), |t| t.span)
    }

    fn bump(&mut self) -> Span {
        let s = self.span();
        if self.pos < self.toks.len() && *self.peek() != Tok::Eof {
            self.pos += 1;
        }
        s
    }

    fn at_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s == kw)
    }

    /// At the `idle` state modifier: `idle` is a keyword only before
    /// `state` or another state modifier, so that it can still name a state.
    fn at_idle(&self) -> bool {
        self.at_kw("idle")
            && matches!(self.peek_at(1), Tok::Ident(s) if STATE_MODIFIERS.contains(&s.as_str()) || s == "state")
    }

    /// At the start of a state declaration (`state` or a modifier).
    fn at_state(&self) -> bool {
        self.at_kw("state")
            || self.at_kw("initial")
            || self.at_kw("final")
            || self.at_kw("restart")
            || self.at_idle()
    }

    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == t {
            self.bump();
            true
        } else {
            false
        }
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.at_kw(kw) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn error<T>(&mut self, msg: impl Into<String>) -> PResult<T> {
        let span = self.span();
        self.diags.push(Diag::error(span, msg));
        Err(Fail)
    }

    fn expected<T>(&mut self, what: &str) -> PResult<T> {
        let found = self.peek().describe();
        self.error(format!("expected {what}, found {found}"))
    }

    fn expect(&mut self, t: Tok) -> PResult<Span> {
        if *self.peek() == t {
            Ok(self.bump())
        } else {
            self.expected(&t.describe())
        }
    }

    fn expect_kw(&mut self, kw: &str) -> PResult<Span> {
        if self.at_kw(kw) {
            Ok(self.bump())
        } else {
            self.expected(&format!("`{kw}`"))
        }
    }

    fn ident(&mut self, what: &str) -> PResult<Ident> {
        match self.peek().clone() {
            Tok::Ident(name) if !KEYWORDS.contains(&name.as_str()) => {
                let span = self.bump();
                Ok(Ident { name, span })
            }
            Tok::Ident(name) => self.error(format!(
                "expected {what}, found keyword `{name}` (keywords cannot be used as names)"
            )),
            _ => self.expected(what),
        }
    }

    fn int(&mut self, what: &str) -> PResult<(u128, Span)> {
        match *self.peek() {
            Tok::Int(v) => Ok((v, self.bump())),
            _ => self.expected(what),
        }
    }

    /// Skip to just after the next `;` at this nesting level, or to (not past)
    /// a `}` that closes the enclosing block.
    fn recover(&mut self) {
        let mut depth = 0usize;
        loop {
            match self.peek() {
                Tok::Eof => return,
                Tok::Semi if depth == 0 => {
                    self.bump();
                    return;
                }
                Tok::LBrace => depth += 1,
                Tok::RBrace => {
                    if depth == 0 {
                        return;
                    }
                    depth -= 1;
                    if depth == 0 {
                        self.bump();
                        return;
                    }
                }
                _ => {}
            }
            self.bump();
        }
    }

    fn file(&mut self) -> File {
        let mut items = Vec::new();
        while *self.peek() != Tok::Eof {
            let before = self.pos;
            match self.item() {
                Ok(it) => items.push(it),
                Err(Fail) => {
                    self.recover();
                    if *self.peek() == Tok::RBrace {
                        self.bump();
                    }
                }
            }
            if self.pos == before {
                self.bump();
            }
        }
        File { items }
    }

    fn item(&mut self) -> PResult<Item> {
        if self.eat_kw("import") {
            let span = self.prev_span();
            let path = match self.peek().clone() {
                Tok::Str(s) => {
                    self.bump();
                    s
                }
                _ => return self.expected("a quoted path after `import`"),
            };
            self.expect(Tok::Semi)?;
            return Ok(Item::Import(path, span));
        }
        if self.at_kw("const") {
            return Ok(Item::Const(self.const_decl()?));
        }
        if self.eat_kw("protocol") {
            return Ok(Item::Protocol(self.protocol()?));
        }
        if self.eat_kw("component") {
            return Ok(Item::Component(self.component()?));
        }
        self.expected("`protocol`, `component`, `const` or `import`")
    }

    fn const_decl(&mut self) -> PResult<ConstDecl> {
        self.expect_kw("const")?;
        let name = self.ident("a constant name")?;
        self.expect(Tok::Assign)?;
        let value = self.expr()?;
        self.expect(Tok::Semi)?;
        Ok(ConstDecl { name, value })
    }

    /// Optional section labels from the paper's syntax: `messages:` etc.
    fn section_label(&mut self, labels: &[&str]) -> bool {
        if let Tok::Ident(s) = self.peek() {
            if labels.contains(&s.as_str()) && *self.peek_at(1) == Tok::Colon {
                self.bump();
                self.bump();
                return true;
            }
        }
        false
    }

    fn protocol(&mut self) -> PResult<Protocol> {
        let name = self.ident("a protocol name")?;
        self.expect(Tok::LBrace)?;
        let mut p = Protocol {
            name,
            messages: Vec::new(),
            vars: Vec::new(),
            consts: Vec::new(),
            uses: Vec::new(),
            subports: Vec::new(),
            key: None,
            states: Vec::new(),
        };
        loop {
            if self.section_label(&["messages", "variables", "behaviour", "behavior"]) {
                continue;
            }
            match self.peek() {
                Tok::RBrace => {
                    self.bump();
                    return Ok(p);
                }
                Tok::Eof => return self.expected("`}` closing the protocol"),
                _ => {}
            }
            let before = self.pos;
            if let Err(Fail) = self.protocol_item(&mut p) {
                self.recover();
            }
            if self.pos == before {
                self.bump();
            }
        }
    }

    fn protocol_item(&mut self, p: &mut Protocol) -> PResult<()> {
        if self.at_kw("in") || self.at_kw("out") || self.at_kw("concurrent") {
            let m = self.message()?;
            p.messages.push(m);
        } else if self.eat_kw("var") {
            let name = self.ident("a variable name")?;
            self.expect(Tok::Colon)?;
            let ty = self.type_expr()?;
            self.expect(Tok::Assign)?;
            let init = self.expr()?;
            self.expect(Tok::Semi)?;
            p.vars.push(VarDecl { name, ty, init });
        } else if self.at_kw("const") {
            let c = self.const_decl()?;
            p.consts.push(c);
        } else if self.eat_kw("uses") {
            let protocol = self.ident("a protocol name")?;
            let alias = self.ident("a name for the dependency")?;
            self.expect(Tok::Semi)?;
            p.uses.push(UsesDecl { protocol, alias });
        } else if self.eat_kw("subport") {
            let protocol = self.ident("a protocol name")?;
            let name = self.ident("a subport name")?;
            self.expect(Tok::LBracket)?;
            let bound = self.int("the most instances (an integer)")?;
            self.expect(Tok::RBracket)?;
            self.expect(Tok::Semi)?;
            p.subports.push(SubportDecl {
                protocol,
                name,
                bound,
            });
        } else if self.at_kw("key") {
            let kw = self.bump();
            let arg = self.ident("the name of the key argument")?;
            self.expect(Tok::Semi)?;
            if p.key.is_some() {
                self.diags
                    .push(Diag::error(kw, "a protocol has at most one `key`"));
            }
            p.key = Some(arg);
        } else if self.at_state() {
            let s = self.state()?;
            p.states.push(s);
        } else if matches!(self.peek(), Tok::Question | Tok::Bang) {
            return self.error("transitions belong inside a `state { ... }` block");
        } else {
            return self.expected(
                "a message (`in`/`out`), `var`, `const`, `uses`, `subport`, `key` or a state",
            );
        }
        Ok(())
    }

    fn message(&mut self) -> PResult<MessageDecl> {
        let start = self.span();
        let concurrent = self.eat_kw("concurrent");
        let dir = if self.eat_kw("in") {
            DirKw::In
        } else if self.eat_kw("out") {
            DirKw::Out
        } else {
            return self.expected("`in` or `out`");
        };
        let name = self.ident("a message name")?;
        self.expect(Tok::LParen)?;
        let mut params = Vec::new();
        if *self.peek() != Tok::RParen {
            loop {
                let pname = self.ident("an argument name")?;
                self.expect(Tok::Colon)?;
                let ty = self.type_expr()?;
                params.push((pname, ty));
                if !self.eat(&Tok::Comma) {
                    break;
                }
            }
        }
        self.expect(Tok::RParen)?;
        let label = if self.eat(&Tok::Assign) {
            Some(self.int("a numeric label")?)
        } else {
            None
        };
        let transport_span = self.span();
        let transport = if self.eat_kw("call") {
            TransportKw::Call
        } else if self.eat_kw("notify") {
            TransportKw::Notify
        } else if self.eat_kw("reply") {
            let mut to = Vec::new();
            if self.eat_kw("to") {
                loop {
                    to.push(self.ident("the name of a call message")?);
                    if !self.eat(&Tok::Comma) {
                        break;
                    }
                }
            }
            TransportKw::Reply(to)
        } else {
            return self.expected("a transport: `call`, `reply` or `notify`");
        };
        self.expect(Tok::Semi)?;
        Ok(MessageDecl {
            concurrent,
            dir,
            name,
            params,
            label,
            transport,
            transport_span,
            span: start.to(self.prev_span()),
        })
    }

    fn type_expr(&mut self) -> PResult<TypeExpr> {
        if let Tok::Ident(_) = self.peek() {
            // A named type, unless it is a constant starting a range.
            if !matches!(self.peek_at(1), Tok::DotDot | Tok::DotDotEq) {
                return Ok(TypeExpr::Named(self.ident("a type")?));
            }
        }
        let start = self.span();
        let lo = self.unary()?;
        let inclusive = if self.eat(&Tok::DotDotEq) {
            true
        } else if self.eat(&Tok::DotDot) {
            false
        } else {
            return self.expected("a type (`u8`..`u64`, `i8`..`i64`, `bool` or a range `lo..=hi`)");
        };
        let hi = self.unary()?;
        Ok(TypeExpr::Range {
            lo: Box::new(lo),
            hi: Box::new(hi),
            inclusive,
            span: start.to(self.prev_span()),
        })
    }

    fn state(&mut self) -> PResult<StateDecl> {
        self.depth += 1;
        let r = self.state_inner();
        self.depth -= 1;
        r
    }

    fn state_inner(&mut self) -> PResult<StateDecl> {
        if self.depth > MAX_DEPTH {
            return self.error("states nested too deeply");
        }
        let mut initial = false;
        let mut is_final = false;
        let mut restart = None;
        let mut idle = None;
        loop {
            if self.eat_kw("initial") {
                initial = true;
            } else if self.eat_kw("final") {
                is_final = true;
            } else if self.at_kw("restart") {
                restart = Some(self.bump());
            } else if self.at_idle() {
                idle = Some(self.bump());
            } else {
                break;
            }
        }
        self.expect_kw("state")?;
        let name = self.ident("a state name")?;
        let timeout = if self.eat(&Tok::LBracket) {
            let t = match *self.peek() {
                Tok::Duration(ns) => (ns, self.bump()),
                _ => return self.expected("a duration such as `5s`, `200ms` or `50us`"),
            };
            self.expect(Tok::RBracket)?;
            Some(t)
        } else {
            None
        };
        let mut s = StateDecl {
            name,
            initial,
            is_final,
            restart,
            idle,
            timeout,
            children: Vec::new(),
            transitions: Vec::new(),
            has_body: false,
        };
        if self.eat(&Tok::Semi) {
            return Ok(s);
        }
        self.expect(Tok::LBrace)?;
        s.has_body = true;
        loop {
            match self.peek() {
                Tok::RBrace => {
                    self.bump();
                    return Ok(s);
                }
                Tok::Eof => return self.expected("`}` closing the state"),
                _ => {}
            }
            let before = self.pos;
            let r = if self.at_state() {
                self.state().map(|c| s.children.push(c))
            } else if matches!(self.peek(), Tok::Question | Tok::Bang) {
                self.transition().map(|t| s.transitions.push(t))
            } else {
                self.expected("a transition (`?msg` or `!msg`) or an inner state")
            };
            if r.is_err() {
                self.recover();
            }
            if self.pos == before {
                self.bump();
            }
        }
    }

    fn transition(&mut self) -> PResult<TransitionDecl> {
        let start = self.span();
        let sigil = if self.eat(&Tok::Question) {
            Sigil::Recv
        } else if self.eat(&Tok::Bang) {
            Sigil::Send
        } else {
            return self.expected("`?` or `!`");
        };
        let first = self.ident("a message name")?;
        let (port, message) = if self.eat(&Tok::Dot) {
            (Some(first), self.ident("a message name after `.`")?)
        } else {
            (None, first)
        };
        let binders = if self.eat(&Tok::LParen) {
            let mut b = Vec::new();
            if *self.peek() != Tok::RParen {
                loop {
                    b.push(self.ident("an argument name")?);
                    if !self.eat(&Tok::Comma) {
                        break;
                    }
                }
            }
            self.expect(Tok::RParen)?;
            Some(b)
        } else {
            None
        };
        let guard = if self.eat(&Tok::LBracket) {
            let g = self.expr()?;
            self.expect(Tok::RBracket)?;
            Some(g)
        } else {
            None
        };
        let mut actions = Vec::new();
        if self.eat(&Tok::Slash) {
            loop {
                if self.at_kw("spawn") {
                    let s = self.bump();
                    let sub = self.ident("a subport name")?;
                    self.expect(Tok::LParen)?;
                    let key = self.expr()?;
                    self.expect(Tok::RParen)?;
                    actions.push(ActionDecl::Spawn(sub, key, s.to(self.prev_span())));
                } else {
                    let var = self.ident("a variable to assign")?;
                    self.expect(Tok::Assign)?;
                    let e = self.expr()?;
                    actions.push(ActionDecl::Assign(var, e));
                }
                if !self.eat(&Tok::Comma) {
                    break;
                }
            }
        }
        if !self.eat(&Tok::Arrow) {
            return self.expected("`->` and a target state");
        }
        let target = self.ident("a target state")?;
        self.expect(Tok::Semi)?;
        Ok(TransitionDecl {
            sigil,
            port,
            message,
            binders,
            guard,
            actions,
            target,
            span: start.to(self.prev_span()),
        })
    }

    fn component(&mut self) -> PResult<Component> {
        let name = self.ident("a component name")?;
        self.expect(Tok::LBrace)?;
        let mut ports = Vec::new();
        loop {
            if self.section_label(&["ports"]) {
                continue;
            }
            match self.peek() {
                Tok::RBrace => {
                    self.bump();
                    return Ok(Component { name, ports });
                }
                Tok::Eof => return self.expected("`}` closing the component"),
                _ => {}
            }
            let before = self.pos;
            let r = (|| {
                let mirror = self.eat_kw("mirror");
                let protocol = self.ident("a protocol name")?;
                let name = self.ident("a port name")?;
                self.expect(Tok::Semi)?;
                Ok(PortDecl {
                    mirror,
                    protocol,
                    name,
                })
            })();
            match r {
                Ok(p) => ports.push(p),
                Err(Fail) => self.recover(),
            }
            if self.pos == before {
                self.bump();
            }
        }
    }

    // ---- expressions ----

    fn expr(&mut self) -> PResult<Expr> {
        self.depth += 1;
        let r = if self.depth > MAX_DEPTH {
            self.error("expression nested too deeply")
        } else {
            self.or_expr()
        };
        self.depth -= 1;
        r
    }

    /// One left-associative level: `next (op next)*`, with `op` what
    /// `op_of` maps the next token to; at most [`MAX_CHAIN`] operators.
    fn left_assoc(
        &mut self,
        next: fn(&mut Self) -> PResult<Expr>,
        op_of: fn(&Tok) -> Option<BinOp>,
    ) -> PResult<Expr> {
        let mut l = next(self)?;
        let mut n = 0;
        while let Some(op) = op_of(self.peek()) {
            n += 1;
            if n > MAX_CHAIN {
                return self.error("expression too long");
            }
            self.bump();
            let r = next(self)?;
            let s = l.span().to(r.span());
            l = Expr::Binary(op, Box::new(l), Box::new(r), s);
        }
        Ok(l)
    }

    fn or_expr(&mut self) -> PResult<Expr> {
        self.left_assoc(Self::and_expr, |t| {
            matches!(t, Tok::OrOr).then_some(BinOp::Or)
        })
    }

    fn and_expr(&mut self) -> PResult<Expr> {
        self.left_assoc(Self::cmp_expr, |t| {
            matches!(t, Tok::AndAnd).then_some(BinOp::And)
        })
    }

    fn cmp_expr(&mut self) -> PResult<Expr> {
        let l = self.add_expr()?;
        let op = match self.peek() {
            Tok::EqEq => BinOp::Eq,
            Tok::NotEq => BinOp::Ne,
            Tok::Lt => BinOp::Lt,
            Tok::Le => BinOp::Le,
            Tok::Gt => BinOp::Gt,
            Tok::Ge => BinOp::Ge,
            _ => return Ok(l),
        };
        self.bump();
        let r = self.add_expr()?;
        if matches!(
            self.peek(),
            Tok::EqEq | Tok::NotEq | Tok::Lt | Tok::Le | Tok::Gt | Tok::Ge
        ) {
            return self.error("comparisons cannot be chained; use `&&`");
        }
        let s = l.span().to(r.span());
        Ok(Expr::Binary(op, Box::new(l), Box::new(r), s))
    }

    fn add_expr(&mut self) -> PResult<Expr> {
        self.left_assoc(Self::mul_expr, |t| match t {
            Tok::Plus => Some(BinOp::Add),
            Tok::Minus => Some(BinOp::Sub),
            _ => None,
        })
    }

    fn mul_expr(&mut self) -> PResult<Expr> {
        self.left_assoc(Self::unary, |t| match t {
            Tok::Star => Some(BinOp::Mul),
            Tok::Slash => Some(BinOp::Div),
            Tok::Percent => Some(BinOp::Rem),
            _ => None,
        })
    }

    fn unary(&mut self) -> PResult<Expr> {
        self.depth += 1;
        let r = if self.depth > MAX_DEPTH {
            self.error("expression nested too deeply")
        } else {
            self.unary_inner()
        };
        self.depth -= 1;
        r
    }

    fn unary_inner(&mut self) -> PResult<Expr> {
        let start = self.span();
        if self.eat(&Tok::Minus) {
            let e = self.unary()?;
            let s = start.to(e.span());
            return Ok(Expr::Unary(UnOp::Neg, Box::new(e), s));
        }
        if self.eat(&Tok::Bang) {
            let e = self.unary()?;
            let s = start.to(e.span());
            return Ok(Expr::Unary(UnOp::Not, Box::new(e), s));
        }
        self.atom()
    }

    fn atom(&mut self) -> PResult<Expr> {
        match self.peek().clone() {
            Tok::Int(v) => Ok(Expr::Int(v, self.bump())),
            Tok::Ident(s) if s == "true" => Ok(Expr::Bool(true, self.bump())),
            Tok::Ident(s) if s == "false" => Ok(Expr::Bool(false, self.bump())),
            Tok::Ident(_) => Ok(Expr::Name(self.ident("a name")?)),
            Tok::LParen => {
                self.bump();
                let e = self.expr()?;
                self.expect(Tok::RParen)?;
                Ok(e)
            }
            Tok::Duration(_) => {
                self.error("durations are only allowed as state timeouts (`state s [5s]`)")
            }
            _ => self.expected("an expression"),
        }
    }
}

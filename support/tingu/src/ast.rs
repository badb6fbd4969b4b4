//! Syntax tree of a Tingu file, as written (names unresolved), with spans.

use crate::diag::Span;

/// A name and where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// Where.
    pub span: Span,
}

/// One parsed file.
#[derive(Clone, Debug, Default)]
pub struct File {
    /// Top-level items in order.
    pub items: Vec<Item>,
}

/// A top-level item.
#[derive(Clone, Debug)]
pub enum Item {
    /// `import "path";`
    Import(String, Span),
    /// `const NAME = expr;`
    Const(ConstDecl),
    /// `protocol Name { ... }`
    Protocol(Protocol),
    /// `component name { ... }`
    Component(Component),
}

/// `const NAME = expr;`
#[derive(Clone, Debug)]
pub struct ConstDecl {
    /// Name.
    pub name: Ident,
    /// Value (must be constant).
    pub value: Expr,
}

/// Argument and variable types as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeExpr {
    /// A named type: `u8` .. `u64`, `i8` .. `i64`, `bool`.
    Named(Ident),
    /// `lo..hi` (`inclusive` false) or `lo..=hi`.
    Range {
        /// Lower bound.
        lo: Box<Expr>,
        /// Upper bound.
        hi: Box<Expr>,
        /// Whether `hi` is included.
        inclusive: bool,
        /// Whole type.
        span: Span,
    },
}

impl TypeExpr {
    /// Where the type was written.
    pub fn span(&self) -> Span {
        match self {
            TypeExpr::Named(i) => i.span,
            TypeExpr::Range { span, .. } => *span,
        }
    }
}

/// Direction keyword of a message.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum DirKw {
    /// `in`: to the component owning the port.
    In,
    /// `out`: from the component owning the port.
    Out,
}

/// Transport as written.
#[derive(Clone, Debug)]
pub enum TransportKw {
    /// `call`
    Call,
    /// `reply` or `reply to a, b`
    Reply(Vec<Ident>),
    /// `notify`
    Notify,
}

/// `in write(seq: u64) = 2 call;`
#[derive(Clone, Debug)]
pub struct MessageDecl {
    /// `concurrent` marker.
    pub concurrent: bool,
    /// `in` or `out`.
    pub dir: DirKw,
    /// Name.
    pub name: Ident,
    /// Arguments in wire order.
    pub params: Vec<(Ident, TypeExpr)>,
    /// `= label`, if written.
    pub label: Option<(u128, Span)>,
    /// Transport.
    pub transport: TransportKw,
    /// Span of the transport keyword.
    pub transport_span: Span,
    /// Whole declaration.
    pub span: Span,
}

/// `var name: type = init;`
#[derive(Clone, Debug)]
pub struct VarDecl {
    /// Name.
    pub name: Ident,
    /// Type (bounded).
    pub ty: TypeExpr,
    /// Initial value.
    pub init: Expr,
}

/// `uses Protocol alias;`
#[derive(Clone, Debug)]
pub struct UsesDecl {
    /// Protocol depended on.
    pub protocol: Ident,
    /// Name used in `alias.message`.
    pub alias: Ident,
}

/// `subport Protocol name[bound] key arg;`
#[derive(Clone, Debug)]
pub struct SubportDecl {
    /// Protocol of each instance.
    pub protocol: Ident,
    /// Template name (used by `spawn`).
    pub name: Ident,
    /// Most live instances.
    pub bound: (u128, Span),
}

/// `state name [5s] { ... }`, with modifiers.
#[derive(Clone, Debug)]
pub struct StateDecl {
    /// Name (unique in the protocol).
    pub name: Ident,
    /// `initial` modifier.
    pub initial: bool,
    /// `final` modifier.
    pub is_final: bool,
    /// `restart` modifier (with its span).
    pub restart: Option<Span>,
    /// `idle` modifier (with its span): a resting state, where a composition
    /// may stop (docs/verification.md).
    pub idle: Option<Span>,
    /// Timeout, in nanoseconds.
    pub timeout: Option<(u64, Span)>,
    /// Inner states.
    pub children: Vec<StateDecl>,
    /// Transitions leaving this state (enabled in every inner state).
    pub transitions: Vec<TransitionDecl>,
    /// Whether the state had a `{ }` body.
    pub has_body: bool,
}

/// Direction marker of a trigger.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Sigil {
    /// `?m`: received by the owner.
    Recv,
    /// `!m`: sent by the owner.
    Send,
}

/// `?port.msg(a, b) [guard] / x = e, spawn p(k) -> target;`
#[derive(Clone, Debug)]
pub struct TransitionDecl {
    /// `?` or `!`.
    pub sigil: Sigil,
    /// `port` in `port.msg`, for dependencies.
    pub port: Option<Ident>,
    /// Message name.
    pub message: Ident,
    /// Argument binders, if a list was written (`_` ignores one).
    pub binders: Option<Vec<Ident>>,
    /// Guard.
    pub guard: Option<Expr>,
    /// Actions in order.
    pub actions: Vec<ActionDecl>,
    /// Target state.
    pub target: Ident,
    /// Whole transition.
    pub span: Span,
}

/// An action.
#[derive(Clone, Debug)]
pub enum ActionDecl {
    /// `var = expr`
    Assign(Ident, Expr),
    /// `spawn subport(key)`
    Spawn(Ident, Expr, Span),
}

/// Binary operators.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `&&`
    And,
    /// `||`
    Or,
}

impl BinOp {
    /// How the operator is written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::And => "&&",
            BinOp::Or => "||",
        }
    }
}

/// Unary operators.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum UnOp {
    /// `-`
    Neg,
    /// `!`
    Not,
}

/// An expression as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// Integer literal.
    Int(u128, Span),
    /// `true` / `false`.
    Bool(bool, Span),
    /// A name (argument binder, variable or constant).
    Name(Ident),
    /// Unary operation.
    Unary(UnOp, Box<Expr>, Span),
    /// Binary operation.
    Binary(BinOp, Box<Expr>, Box<Expr>, Span),
}

impl Expr {
    /// Where the expression was written.
    pub fn span(&self) -> Span {
        match self {
            Expr::Int(_, s)
            | Expr::Bool(_, s)
            | Expr::Unary(_, _, s)
            | Expr::Binary(_, _, _, s) => *s,
            Expr::Name(i) => i.span,
        }
    }
}

/// `protocol Name { ... }`
#[derive(Clone, Debug)]
pub struct Protocol {
    /// Name.
    pub name: Ident,
    /// Messages.
    pub messages: Vec<MessageDecl>,
    /// Variables.
    pub vars: Vec<VarDecl>,
    /// Protocol-local constants.
    pub consts: Vec<ConstDecl>,
    /// Dependencies on other protocols.
    pub uses: Vec<UsesDecl>,
    /// Subport templates.
    pub subports: Vec<SubportDecl>,
    /// `key arg;` (this protocol is a subport protocol keyed by `arg`).
    pub key: Option<Ident>,
    /// Top-level states.
    pub states: Vec<StateDecl>,
}

/// `[mirror] Protocol name;`
#[derive(Clone, Debug)]
pub struct PortDecl {
    /// `mirror` marker.
    pub mirror: bool,
    /// Protocol.
    pub protocol: Ident,
    /// Port name.
    pub name: Ident,
}

/// `component name { ports: ... }`
#[derive(Clone, Debug)]
pub struct Component {
    /// Name.
    pub name: Ident,
    /// Ports.
    pub ports: Vec<PortDecl>,
}
